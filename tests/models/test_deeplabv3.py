"""DeepLabV3 over torchvision: shapes, aux losses, training, weight loading.

Forward passes use the MobileNetV3 variant at small sizes; the ResNets are
built to check their structure and run once on a tiny input.
"""
from typing import Dict

import pytest
import torch
import torchvision
from mmengine.optim import OptimWrapper
from mmengine.structures import PixelData
from torch import Tensor, nn
from torchvision.models.segmentation import (
    DeepLabV3_MobileNet_V3_Large_Weights, DeepLabV3_ResNet50_Weights,
    DeepLabV3_ResNet101_Weights, deeplabv3_mobilenet_v3_large)

from segkit.models import DeepLabV3
from segkit.models.losses import CrossEntropyLoss, DiceLoss
from segkit.registry import MODELS
from segkit.structures import SegDataSample

MBV3 = 'mobilenet_v3_large'
# Odd, and shared by most tests: oneDNN builds its kernels once per shape.
SIZE = (65, 97)


def mbv3(**kwargs) -> DeepLabV3:
    return DeepLabV3(**(dict(num_classes=3, backbone=MBV3) | kwargs))


def sample_with_mask(mask: Tensor, **metainfo) -> SegDataSample:
    sample = SegDataSample(metainfo=metainfo)
    sample.gt_sem_seg = PixelData(data=mask[None])
    return sample


def randomised(state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Fresh values everywhere, so that no tensor (BN's ones and zeros
    included) can equal a freshly built model's by chance."""
    generator = torch.Generator().manual_seed(123)
    return {
        key: torch.rand(value.shape, generator=generator, dtype=value.dtype)
        if value.is_floating_point() else torch.randint(
            1000, 2000, value.shape, generator=generator, dtype=value.dtype)
        for key, value in state.items()
    }


def save(state: Dict[str, Tensor], path) -> str:
    torch.save(state, path)
    return str(path)


def same_everywhere(model_state: Dict[str, Tensor],
                    file_state: Dict[str, Tensor]) -> bool:
    return all(torch.equal(model_state[key], value)
               for key, value in file_state.items())


# ---------------------------------------------------------------- structure
@pytest.mark.parametrize('size', [SIZE, (33, 20)])
def test_logits_have_input_size(size):
    model = mbv3().eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, *size), mode='tensor')
    assert logits.shape == (1, 3, *size)


def test_channels_last_input_gives_the_same_logits():
    model = mbv3().eval()
    x = torch.randn(1, 3, *SIZE)
    with torch.no_grad():
        expected = model(x)
        got = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    conv = model.model.classifier[1].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize('backbone, weights, aux_width', [
    ('resnet50', DeepLabV3_ResNet50_Weights, 256),
    ('resnet101', DeepLabV3_ResNet101_Weights, 256),
    (MBV3, DeepLabV3_MobileNet_V3_Large_Weights, 10),
])
def test_variants_are_torchvisions_with_our_num_classes(
        backbone, weights, aux_width):
    """torchvision publishes the parameter count of each model with 21
    classes and the aux head; each class fewer removes one output channel
    (weights from the last 256-wide layer, plus a bias) from the classifier
    and from the aux head's last, ``aux_width``-wide layer."""
    model = DeepLabV3(num_classes=7, backbone=backbone, aux_head=True).eval()
    assert model.model.classifier[4].out_channels == 7
    assert model.model.aux_classifier[4].out_channels == 7
    expected = weights.DEFAULT.meta['num_params'] - (21 - 7) * (
        256 + 1 + aux_width + 1)
    assert sum(p.numel() for p in model.parameters()) == expected
    with torch.no_grad():
        assert model(torch.randn(1, 3, 19, 23)).shape == (1, 7, 19, 23)


def test_unknown_backbone_lists_the_choices():
    with pytest.raises(ValueError, match="backbone must be one of "
                       r"\('resnet50', 'resnet101', 'mobilenet_v3_large'\), "
                       "got 'resnet18'"):
        DeepLabV3(num_classes=2, backbone='resnet18')


def test_registered_and_built_from_config():
    model = MODELS.build(dict(type='DeepLabV3', num_classes=4, backbone=MBV3))
    assert isinstance(model, DeepLabV3)
    assert model.model.aux_classifier is None


# ---------------------------------------------------------------- losses
@pytest.mark.parametrize('weight_kwargs, weight', [
    ({}, 0.4),  # the default
    ({'aux_loss_weight': 1.5}, 1.5),
])
def test_aux_losses_are_weighted_copies_of_the_main_losses(
        weight_kwargs, weight):
    torch.manual_seed(0)
    model = mbv3(aux_head=True, **weight_kwargs, loss_decode=[
        dict(type='CrossEntropyLoss'), dict(type='DiceLoss')]).eval()
    x = torch.randn(1, 3, *SIZE)
    masks = torch.randint(0, 3, (1, *SIZE))
    masks[0, :4] = 255
    with torch.no_grad():  # eval: BN running stats, no dropout
        losses = model(x, [sample_with_mask(m) for m in masks], mode='loss')
        # torchvision's own forward: both heads upsampled to the input.
        reference = model.model(x)
    assert set(losses) == {'loss_ce', 'loss_dice', 'aux.loss_ce',
                           'aux.loss_dice'}
    for name, loss_fn in (('loss_ce', CrossEntropyLoss()),
                          ('loss_dice', DiceLoss())):
        main = loss_fn(reference['out'], masks).item()
        aux = loss_fn(reference['aux'], masks).item()
        assert losses[name].item() == pytest.approx(main, rel=1e-5)
        assert losses['aux.' + name].item() == pytest.approx(
            weight * aux, rel=1e-5)
    total, _ = model.parse_losses(losses)
    assert total.item() == pytest.approx(
        sum(v.item() for v in losses.values()), rel=1e-6)


def test_aux_head_runs_only_for_the_loss():
    model = mbv3(aux_head=True).eval()
    calls = []
    model.model.aux_classifier.register_forward_hook(
        lambda *args: calls.append(1))
    x = torch.randn(1, 3, *SIZE)
    with torch.no_grad():
        model(x, mode='tensor')
        model(x, mode='predict')
        assert calls == []
        model(x, [sample_with_mask(torch.zeros(SIZE, dtype=torch.long))],
              mode='loss')
    assert calls == [1]


def test_without_aux_head_no_aux_loss_or_parameters():
    model = mbv3(aux_head=False).eval()
    assert not [n for n, _ in model.named_parameters() if 'aux' in n]
    with torch.no_grad():
        losses = model(torch.randn(1, 3, *SIZE), [sample_with_mask(
            torch.randint(0, 3, SIZE))], mode='loss')
    assert list(losses) == ['loss_ce']


def test_training_steps_reduce_the_loss():
    """A few steps through data preprocessor, parse_losses and an optimiser
    on one tiny batch: a bright square to segment."""
    torch.manual_seed(0)
    model = mbv3(num_classes=2, aux_head=True,
                 data_preprocessor=dict(type='SegDataPreProcessor'))
    images = torch.randint(0, 60, (2, 3, 64, 64), dtype=torch.uint8)
    masks = torch.zeros(2, 64, 64, dtype=torch.long)
    for i, (top, left) in enumerate([(8, 12), (30, 20)]):
        images[i, :, top:top + 24, left:left + 24] += 150
        masks[i, top:top + 24, left:left + 24] = 1
    aux_before = model.model.aux_classifier[0].weight.clone()
    optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    totals = []
    for _ in range(6):
        data = dict(inputs=list(images),
                    data_samples=[sample_with_mask(m) for m in masks])
        log_vars = model.train_step(data, optim)
        assert set(log_vars) == {'loss', 'loss_ce', 'aux.loss_ce'}
        totals.append(log_vars['loss'].item())
    assert totals[-1] < 0.7 * totals[0]
    assert not torch.equal(model.model.aux_classifier[0].weight, aux_before)


# ---------------------------------------------------------------- predict
def test_predict_returns_classes_at_original_shape():
    model = mbv3().eval()
    ori_shape = (2 * SIZE[0], 2 * SIZE[1])
    sample = SegDataSample(metainfo=dict(img_shape=SIZE,
                                         ori_shape=ori_shape))
    with torch.no_grad():
        result = model(torch.randn(1, 3, *SIZE), [sample],
                       mode='predict')[0]
    assert result.pred_sem_seg.data.shape == (1, *ori_shape)
    assert result.seg_logits.data.shape == (3, *ori_shape)
    assert torch.equal(result.pred_sem_seg.data,
                       result.seg_logits.data.argmax(0, keepdim=True))


def calibrate_batch_norm(model: DeepLabV3, x: Tensor) -> None:
    """Running statistics of ``x`` itself: at a random init MobileNetV3's
    activations are far below BN's initial running variance of 1, so in
    eval mode the logits would be the same at every pixel."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average: one batch = exact
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()


def test_binary_predict_thresholds_the_sigmoid():
    model = mbv3(num_classes=1, aux_head=True,
                 loss_decode=dict(type='BCEWithLogitsLoss'))
    x = torch.randn(2, 3, *SIZE)
    calibrate_batch_norm(model, x)
    with torch.no_grad():
        losses = model(x, [sample_with_mask(torch.randint(0, 2, SIZE))] * 2,
                       mode='loss')
        assert set(losses) == {'loss_bce', 'aux.loss_bce'}
        prob = model(x, mode='tensor').sigmoid()
        assert prob.shape == (2, 1, *SIZE)
        # Thresholds at quantiles of the probabilities, so that each splits
        # the pixels differently.
        for threshold in prob.flatten().quantile(
                torch.tensor([0.25, 0.75])).tolist():
            model.threshold = threshold
            preds = [s.pred_sem_seg.data for s in model(x, mode='predict')]
            assert torch.equal(torch.stack(preds), (prob > threshold).long())
            assert 0 < torch.stack(preds).float().mean() < 1


# ---------------------------------------------------------------- weights
@pytest.fixture(scope='module')
def torchvision_model_file(tmp_path_factory):
    """A torchvision DeepLabV3 state dict with 21 classes and an aux head."""
    net = deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None,
                                       num_classes=21, aux_loss=True)
    state = randomised(net.state_dict())
    return save(state, tmp_path_factory.mktemp('tv') / 'dlv3.pth'), state


@pytest.mark.parametrize('aux_head', [True, False])
def test_torchvision_model_checkpoint_loads_all_but_other_shaped_heads(
        torchvision_model_file, aux_head):
    path, state = torchvision_model_file
    model = mbv3(num_classes=2, aux_head=aux_head,
                 torchvision_checkpoint=dict(path=path, part='model'))
    before = {k: v.clone() for k, v in model.model.state_dict().items()}
    assert not same_everywhere(before, {'backbone.0.0.weight': state[
        'backbone.0.0.weight']})  # building did not load it
    model.init_weights()

    last_convs = {'classifier.4.weight', 'classifier.4.bias'}
    aux_keys = {key for key in state if key.startswith('aux_classifier.')}
    aux_last_convs = {'aux_classifier.4.weight', 'aux_classifier.4.bias'}
    skipped = last_convs | (aux_last_convs if aux_head else aux_keys)
    own = model.model.state_dict()
    assert same_everywhere(
        own, {k: v for k, v in state.items() if k not in skipped})
    # The 2-class last convs kept their initial values.
    kept = last_convs | (aux_last_convs if aux_head else set())
    assert {own[k].shape[0] for k in kept} == {2}
    assert same_everywhere(own, {k: before[k] for k in kept})
    assert model.load_torchvision_checkpoint(path, 'model') == sorted(skipped)


def test_aux_head_missing_from_file_keeps_its_initial_weights(tmp_path):
    net = deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None,
                                       num_classes=2)
    state = randomised(net.state_dict())
    model = mbv3(num_classes=2, aux_head=True)
    aux_before = {k: v.clone() for k, v in model.model.state_dict().items()
                  if k.startswith('aux_classifier.')}
    assert model.load_torchvision_checkpoint(
        save(state, tmp_path / 'noaux.pth'), 'model') == []
    own = model.model.state_dict()
    assert same_everywhere(own, state) and same_everywhere(own, aux_before)


def test_torchvision_backbone_checkpoint_loads_features_skips_classifier(
        tmp_path):
    state = randomised(
        torchvision.models.mobilenet_v3_large(weights=None).state_dict())
    path = save(state, tmp_path / 'mbv3.pth')
    model = mbv3(num_classes=2,
                 torchvision_checkpoint=dict(path=path, part='backbone'))
    head_before = {k: v.clone()
                   for k, v in model.model.classifier.state_dict().items()}
    model.init_weights()

    features = {k.removeprefix('features.'): v for k, v in state.items()
                if k.startswith('features.')}
    assert len(features) == len(model.model.backbone.state_dict())
    assert same_everywhere(model.model.backbone.state_dict(), features)
    assert same_everywhere(model.model.classifier.state_dict(), head_before)
    assert model.load_torchvision_checkpoint(path, 'backbone') == sorted(
        k for k in state if k.startswith('classifier.'))


def test_resnet_backbone_checkpoint_maps_keys_and_skips_fc(tmp_path):
    state = randomised(torchvision.models.resnet50(weights=None).state_dict())
    path = save(state, tmp_path / 'r50.pth')
    model = DeepLabV3(num_classes=2, backbone='resnet50')
    assert model.load_torchvision_checkpoint(path, 'backbone') == [
        'fc.bias', 'fc.weight']
    del state['fc.weight'], state['fc.bias']
    assert same_everywhere(model.model.backbone.state_dict(), state)


def test_checkpoint_of_the_wrong_part_lists_missing_and_unexpected_keys(
        tmp_path):
    state = torchvision.models.mobilenet_v3_large(weights=None).state_dict()
    path = save(state, tmp_path / 'mbv3.pth')
    with pytest.raises(ValueError, match=r"part='model'.*missing keys: "
                       r"backbone\.0\.0\.weight.*unexpected keys: "
                       r"features\.0\.0\.weight"):
        mbv3().load_torchvision_checkpoint(path, 'model')


def test_backbone_tensor_of_another_shape_is_refused(tmp_path):
    state = torchvision.models.mobilenet_v3_large(weights=None).state_dict()
    state['features.1.block.0.0.weight'] = torch.zeros(8, 1, 3, 3)
    path = save(state, tmp_path / 'mbv3.pth')
    with pytest.raises(ValueError, match=r'shape mismatches: '
                       r'features\.1\.block\.0\.0\.weight '
                       r'\(file \(8, 1, 3, 3\), model \(16, 1, 3, 3\)\)'):
        mbv3().load_torchvision_checkpoint(path, 'backbone')


def test_file_that_is_not_a_state_dict_is_refused(tmp_path):
    path = save({'model': {'w': torch.zeros(1)}, 'epoch': torch.tensor(3)},
                tmp_path / 'train.pth')
    with pytest.raises(TypeError, match='expected a torchvision state dict.*'
                       'found non-tensors under model$'):
        mbv3().load_torchvision_checkpoint(path, 'model')


@pytest.mark.parametrize('kwargs, error', [
    (dict(torchvision_checkpoint=dict(path='x.pth', part='head')),
     "part must be one of \\('model', 'backbone'\\), got 'head'"),
    (dict(torchvision_checkpoint=dict(checkpoint='x.pth', part='model')),
     'torchvision_checkpoint must be dict\\(path=...'),
    (dict(torchvision_checkpoint=dict(path='x.pth', part='model'),
          init_cfg=dict(type='Pretrained', checkpoint='y.pth')),
     'either torchvision_checkpoint or init_cfg'),
])
def test_bad_checkpoint_options_fail_at_build_time(kwargs, error):
    with pytest.raises(ValueError, match=error):
        mbv3(**kwargs)


@pytest.mark.parametrize('wrap', [False, True])
def test_pretrained_init_cfg_loads_a_segkit_checkpoint(tmp_path, wrap):
    """A plain state dict of the module, or MMEngine's checkpoint layout."""
    source = mbv3(aux_head=True)
    state = randomised(source.state_dict())
    saved = dict(state_dict=state, meta=dict(iter=10)) if wrap else state
    path = save(saved, tmp_path / 'segkit.pth')
    model = mbv3(aux_head=True,
                 init_cfg=dict(type='Pretrained', checkpoint=path))
    assert not same_everywhere(model.state_dict(), state)
    model.init_weights()
    assert model.state_dict().keys() == state.keys()
    assert same_everywhere(model.state_dict(), state)
