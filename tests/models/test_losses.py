"""Losses against hand-computed values on tiny tensors.

Logits are chosen so the probabilities are simple fractions: softmax of
``[0, 0, ln 2]`` is ``[1/4, 1/4, 1/2]``, of ``[0, 0, 0]`` is ``1/3`` each;
sigmoid of ``0`` is ``1/2`` and of ``ln 3`` is ``3/4``. Every tensor also has
one ignored pixel with extreme, wrong logits that must not change the result.
"""
import math

import numpy as np
import pytest
import torch

from segkit.models.losses import (BCEWithLogitsLoss, CrossEntropyLoss,
                                  DiceLoss, LovaszLoss)
from segkit.registry import MODELS

LN2, LN3 = math.log(2), math.log(3)


def multiclass_case():
    """Pixels: A (target 2, probs 1/4,1/4,1/2), B (target 0, probs 1/3 each),
    and an ignored pixel confidently predicting class 1. Rows are classes,
    columns pixels."""
    logits = torch.tensor([[0., 0., -50.], [0., 0., 50.], [LN2, 0., -50.]])
    logits = logits.view(1, 3, 1, 3).requires_grad_()
    target = torch.tensor([[[2, 0, 255]]])
    return logits, target


def binary_case():
    """Pixels: A (x=0, p=1/2, target 1), B (x=ln 3, p=3/4, target 0), and an
    ignored pixel with x=50."""
    logits = torch.tensor([0., LN3, 50.]).view(1, 1, 1, 3).requires_grad_()
    return logits, torch.tensor([[[1, 0, 255]]])


def all_ignored(logits):
    return torch.full((logits.shape[0], *logits.shape[2:]), 255)


def dice_reference(probs, onehot, valid, smooth, exponent):
    """Explicit per-class loop over pixels, in numpy."""
    dices = []
    for c in range(probs.shape[0]):
        num = den_p = den_t = 0.0
        for p, t, v in zip(probs[c], onehot[c], valid):
            if v:
                num += p * t
                den_p += p**exponent
                den_t += t**exponent
        dices.append((2 * num + smooth) / (den_p + den_t + smooth))
    return 1 - np.mean(dices)


# ---------------------------------------------------------------- CE
def test_ce_hand_value_ignores_void():
    logits, target = multiclass_case()
    loss = CrossEntropyLoss()(logits, target)
    # -ln(1/2) for A, -ln(1/3) for B, averaged over the 2 valid pixels.
    assert loss.item() == pytest.approx((LN2 + LN3) / 2, rel=1e-6)


def test_ce_class_weight_is_weighted_mean():
    logits, target = multiclass_case()
    loss = CrossEntropyLoss(class_weight=[1.0, 1.0, 3.0])(logits, target)
    # A (class 2) counts 3 times, B (class 0) once.
    assert loss.item() == pytest.approx((3 * LN2 + LN3) / 4, rel=1e-6)


def test_ce_avg_over_all_pixels_when_not_avg_non_ignore():
    logits, target = multiclass_case()
    loss = CrossEntropyLoss(avg_non_ignore=False)(logits, target)
    assert loss.item() == pytest.approx((LN2 + LN3) / 3, rel=1e-6)


def test_ce_loss_weight_scales():
    logits, target = multiclass_case()
    loss = CrossEntropyLoss(loss_weight=0.5)(logits, target)
    assert loss.item() == pytest.approx(0.5 * (LN2 + LN3) / 2, rel=1e-6)


@pytest.mark.parametrize('loss_cfg', [
    dict(type='CrossEntropyLoss'),
    dict(type='CrossEntropyLoss', class_weight=[1.0, 2.0, 3.0]),
    dict(type='DiceLoss'),
])
def test_multiclass_all_ignored_is_zero_with_grad(loss_cfg):
    logits, _ = multiclass_case()
    loss = MODELS.build(loss_cfg)(logits, all_ignored(logits))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_ce_rejects_binary_logits_pointing_to_binary_losses():
    logits, target = binary_case()
    with pytest.raises(ValueError, match='BCEWithLogitsLoss'):
        CrossEntropyLoss()(logits, target)


def test_ce_rejects_class_weight_of_wrong_length():
    logits, target = multiclass_case()
    with pytest.raises(ValueError, match='2 entries.*3'):
        CrossEntropyLoss(class_weight=[1.0, 2.0])(logits, target)


def test_class_weight_moves_with_module_and_is_not_checkpointed():
    loss = CrossEntropyLoss(class_weight=[1.0, 2.0])
    assert loss.class_weight.dtype == torch.float32
    assert 'class_weight' not in loss.state_dict()


# ---------------------------------------------------------------- BCE
def test_bce_hand_value_ignores_void():
    logits, target = binary_case()
    loss = BCEWithLogitsLoss()(logits, target)
    # -ln(1/2) for A, -ln(1 - 3/4) = 2 ln 2 for B.
    assert loss.item() == pytest.approx(1.5 * LN2, rel=1e-6)


def test_bce_pos_weight_scales_foreground_term():
    logits, target = binary_case()
    loss = BCEWithLogitsLoss(pos_weight=3.0)(logits, target)
    assert loss.item() == pytest.approx((3 * LN2 + 2 * LN2) / 2, rel=1e-6)


def test_bce_all_ignored_is_zero_with_grad():
    logits, _ = binary_case()
    loss = BCEWithLogitsLoss()(logits, all_ignored(logits))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


@pytest.mark.parametrize('loss_cls',
                         [BCEWithLogitsLoss, DiceLoss, LovaszLoss])
def test_binary_losses_reject_non_binary_targets(loss_cls):
    logits, _ = binary_case()
    with pytest.raises(ValueError, match='got value 2'):
        loss_cls()(logits, torch.tensor([[[1, 2, 255]]]))


def test_bce_rejects_multichannel_logits():
    logits, target = multiclass_case()
    with pytest.raises(ValueError, match='1 channel.*got 3'):
        BCEWithLogitsLoss()(logits, target)


# ---------------------------------------------------------------- Dice
@pytest.mark.parametrize('exponent, expected', [
    # inter = 1/2; sum p**e over A, B; sum t = 1; smooth = 1.
    (1, 1 - (2 * 0.5 + 1) / (0.5 + 0.75 + 1 + 1)),
    (2, 1 - (2 * 0.5 + 1) / (0.25 + 0.5625 + 1 + 1)),
])
def test_dice_binary_hand_value(exponent, expected):
    logits, target = binary_case()
    loss = DiceLoss(exponent=exponent)(logits, target)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_dice_per_image_averages_each_images_dice():
    """Image 1 is binary_case; image 2 has no foreground and predicts 1/2
    at each of its two valid pixels (third pixel ignored)."""
    logits, target = binary_case()
    logits = torch.cat([logits.detach(), torch.tensor(
        [0., 0., 50.]).view(1, 1, 1, 3)])
    target = torch.cat([target, torch.tensor([[[0, 0, 255]]])])
    # Image 1 as in test_dice_binary_hand_value (e = 1): 2 / 3.25.
    # Image 2: inter 0, sum p = 1, sum t = 0: (0 + 1) / (1 + 0 + 1) = 1/2.
    per_image = DiceLoss(exponent=1, per_image=True)(logits, target)
    assert per_image.item() == pytest.approx(
        1 - (2 / 3.25 + 1 / 2) / 2, rel=1e-6)
    # Over the batch: inter 1/2, sum p = 1.25 + 1, sum t = 1.
    batch = DiceLoss(exponent=1)(logits, target)
    assert batch.item() == pytest.approx(1 - 2 / 4.25, rel=1e-6)


def test_dice_multiclass_hand_value():
    logits, target = multiclass_case()
    loss = DiceLoss(exponent=1)(logits, target)
    # Per class (2*inter + 1) / (sum p + sum t + 1) over pixels A, B:
    # class 0: (2/3 + 1) / (1/4 + 1/3 + 1 + 1) = 20/31
    # class 1: (0 + 1)   / (1/4 + 1/3 + 0 + 1) = 12/19
    # class 2: (1 + 1)   / (1/2 + 1/3 + 1 + 1) = 12/17
    expected = 1 - (20 / 31 + 12 / 19 + 12 / 17) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize('exponent', [1, 2])
def test_dice_multiclass_matches_numpy_reference(exponent):
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 3, 5)
    target = torch.randint(0, 4, (2, 3, 5))
    target[0, 0, :2] = 255
    valid = (target != 255).flatten().numpy()
    safe = target.clamp(max=3)
    probs = logits.softmax(1).permute(1, 0, 2, 3).reshape(4, -1).numpy()
    onehot = np.stack([(safe == c).flatten().numpy() for c in range(4)])
    expected = dice_reference(probs.astype(np.float64), onehot, valid,
                              smooth=0.5, exponent=exponent)
    loss = DiceLoss(smooth=0.5, exponent=exponent)(logits, target)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize('channels', [1, 3])
def test_dice_of_perfect_prediction_is_zero(channels):
    target = torch.randint(0, max(channels, 2), (2, 6, 7))
    if channels == 1:
        logits = (target[:, None].float() * 2 - 1) * 50
    else:
        logits = torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2)
        logits = logits.float() * 50
    target[:, 0] = 255
    assert DiceLoss(smooth=1e-3)(logits, target).item() == pytest.approx(
        0.0, abs=1e-5)


def test_dice_ignored_pixels_do_not_matter():
    logits, target = multiclass_case()
    flipped = logits.detach().clone()
    flipped[..., 2] = -flipped[..., 2]  # change only the ignored pixel
    assert DiceLoss()(logits, target).item() == pytest.approx(
        DiceLoss()(flipped, target).item(), abs=1e-7)


def test_dice_rejects_non_positive_smooth():
    with pytest.raises(ValueError, match='smooth must be > 0.*got 0'):
        DiceLoss(smooth=0)


# ---------------------------------------------------------------- Lovász
def iou_reference(pred, target, classes):
    """Mean over ``classes`` of the IoU of hard predictions, in numpy."""
    ious = [((pred == c) & (target == c)).sum()
            / ((pred == c) | (target == c)).sum() for c in classes]
    return float(np.mean(ious))


@pytest.mark.parametrize('per_image', [False, True])
def test_lovasz_softmax_at_hard_predictions_is_one_minus_iou(per_image):
    """The Lovász extension equals the Jaccard loss at 0/1 errors."""
    torch.manual_seed(0)
    target = torch.randint(0, 3, (2, 4, 5))
    pred = torch.where(torch.rand(2, 4, 5) < 0.3, (target + 1) % 3, target)
    logits = torch.nn.functional.one_hot(pred, 4).permute(0, 3, 1, 2) * 80.
    target[0, 0] = 255  # ignored, whatever is predicted there
    loss = LovaszLoss(per_image=per_image)(logits, target)
    valid = target != 255
    if per_image:
        expected = np.mean([
            1 - iou_reference(pred[i][valid[i]].numpy(),
                              target[i][valid[i]].numpy(),
                              target[i][valid[i]].unique().tolist())
            for i in range(2)])
    else:
        expected = 1 - iou_reference(pred[valid].numpy(),
                                     target[valid].numpy(),
                                     target[valid].unique().tolist())
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_lovasz_hinge_at_unit_logits_is_twice_one_minus_iou():
    """Logits ±1: hinge errors are 0 where right and 2 where wrong, and
    the extension is positively homogeneous."""
    target = torch.tensor([[[1, 1, 1, 0, 0, 0, 255]]])
    logits = torch.tensor([1., 1., -1., 1., -1., -1., 50.]).view(1, 1, 1, 7)
    # Foreground IoU: 2 right of 3, one false: 2 / 4.
    loss = LovaszLoss()(logits, target)
    assert loss.item() == pytest.approx(2 * (1 - 2 / 4), abs=1e-6)


def test_lovasz_hinge_per_image_scores_an_empty_image_by_its_max_logit():
    target = torch.tensor([[[1, 0]], [[0, 0]]])
    logits = torch.tensor([[[1., -1.]], [[0.5, -3.]]])[:, None]
    # Image 1 is right: 0. Image 2 has no foreground: its largest hinge
    # error, 1 + 0.5, with weight 1.
    loss = LovaszLoss(per_image=True)(logits, target)
    assert loss.item() == pytest.approx((0 + 1.5) / 2, abs=1e-6)


def test_lovasz_gradient_flows_and_all_ignored_is_zero():
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    target = torch.randint(0, 3, (2, 4, 4))
    LovaszLoss()(logits, target).backward()
    assert logits.grad.abs().sum() > 0
    for channels in (1, 3):
        logits = torch.randn(2, channels, 4, 4, requires_grad=True)
        loss = LovaszLoss(per_image=True)(logits, all_ignored(logits))
        loss.backward()
        assert loss.item() == 0 and logits.grad.abs().sum() == 0


# ---------------------------------------------------------------- shared
@pytest.mark.parametrize('loss_cls', [CrossEntropyLoss, BCEWithLogitsLoss,
                                      DiceLoss, LovaszLoss])
def test_loss_name_must_be_optimisable_by_mmengine(loss_cls):
    with pytest.raises(ValueError, match="contain 'loss'.*'ce_term'"):
        loss_cls(loss_name='ce_term')


def test_shape_mismatch_is_a_clear_error():
    logits, _ = multiclass_case()
    with pytest.raises(ValueError, match=r'\(1, 3, 1, 3\) and \(1, 1, 4\)'):
        CrossEntropyLoss()(logits, torch.zeros(1, 1, 4, dtype=torch.long))


def test_losses_build_from_registry_with_names():
    names = {MODELS.build(dict(type=t)).loss_name
             for t in ('CrossEntropyLoss', 'BCEWithLogitsLoss', 'DiceLoss',
                       'LovaszLoss')}
    assert names == {'loss_ce', 'loss_bce', 'loss_dice', 'loss_lovasz'}
