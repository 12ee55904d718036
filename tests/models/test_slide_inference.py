"""BaseSegmentor's inference modes: sliding window, flip and multi-scale
TTA.

Tiny hand-made networks make the expected logits computable: a 1×1 conv is
a function of each pixel alone (so windows must not change it, and it is
flip-equivariant), a 3×3 conv sees its neighbours (so windows covering the
image must reproduce it exactly), and a column ramp is not flip-equivariant.
"""
import dataclasses
from typing import List, Tuple

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segkit.engine.optim import precision as optim_precision
from segkit.models import BaseSegmentor
from segkit.models.segmentors.inference_modes import (InferenceConfig,
                                                      mirror_images,
                                                      window_starts)
from segkit.structures import SegDataSample
from segkit.utils import ConfigValueError


class Conv(BaseSegmentor):
    """One conv layer; records the shape of every batch it is given."""

    def __init__(self, num_classes: int = 3, kernel: int = 1, **kwargs):
        super().__init__(num_classes=num_classes, **kwargs)
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, num_classes, kernel, padding=kernel // 2)
        self.calls: List[Tuple[int, ...]] = []

    def forward_logits(self, inputs: Tensor) -> Tensor:
        self.calls.append(tuple(inputs.shape))
        return self.conv(inputs)


class ColumnRamp(BaseSegmentor):
    """Class-1 logit rises from -1 at the left to 1 at the right edge;
    class 0 is 0. The image content is ignored."""

    def forward_logits(self, inputs: Tensor) -> Tensor:
        n, _, h, w = inputs.shape
        ramp = torch.linspace(-1, 1, w).expand(n, 1, h, w)
        return torch.cat([torch.zeros_like(ramp), ramp], dim=1)


def slide(crop, stride, **extra) -> dict:
    return dict(mode='slide', crop_size=crop, stride=stride, **extra)


def predict(model: BaseSegmentor, inputs: Tensor) -> List[SegDataSample]:
    with torch.no_grad():
        return model(inputs, mode='predict')


def logits(samples: List[SegDataSample]) -> Tensor:
    return torch.stack([s.seg_logits.data for s in samples])


@pytest.mark.parametrize('size, crop, stride', [(23, 10, 7), (10, 10, 3),
                                                (7, 10, 4), (64, 16, 16),
                                                (31, 8, 1)])
def test_window_starts_cover_the_axis_and_stay_inside(size, crop, stride):
    starts = window_starts(size, crop, stride)
    assert starts[0] == 0 and starts == sorted(set(starts))
    assert starts[-1] + min(crop, size) == size
    assert all(b - a <= stride for a, b in zip(starts, starts[1:]))


def test_slide_equals_whole_when_one_window_covers_the_image():
    torch.manual_seed(1)
    inputs = torch.randn(2, 3, 19, 27)
    whole = Conv(kernel=3)
    covering = Conv(kernel=3, test_cfg=slide((32, 32), (16, 16)))
    assert torch.equal(logits(predict(whole, inputs)),
                       logits(predict(covering, inputs)))
    assert covering.calls == [(2, 3, 19, 27)]  # clipped, not padded


@pytest.mark.parametrize('crop, stride', [((10, 16), (7, 9)), (8, (5, 8)),
                                          ((23, 5), (1, 2))])
def test_slide_equals_whole_for_a_pixelwise_model(crop, stride):
    torch.manual_seed(2)
    inputs = torch.randn(2, 3, 23, 37)
    whole = predict(Conv(), inputs)
    windows = Conv(test_cfg=slide(crop, stride, window_batch=3))
    slid = predict(windows, inputs)
    torch.testing.assert_close(logits(slid), logits(whole))
    assert all(torch.equal(a.pred_sem_seg.data, b.pred_sem_seg.data)
               for a, b in zip(slid, whole))
    crop_hw = windows.test_cfg.crop_size
    assert all(call[0] <= 3 and call[2:] == crop_hw for call in windows.calls)


def test_overlapping_windows_differ_from_whole_for_a_wider_model():
    # The 3×3 conv's zero padding at window borders shows in the result:
    # proof that windows really run separately.
    torch.manual_seed(3)
    inputs = torch.randn(1, 3, 20, 20)
    whole = logits(predict(Conv(kernel=3), inputs))
    slid = logits(predict(Conv(kernel=3, test_cfg=slide(12, 8)), inputs))
    assert not torch.allclose(whole, slid, atol=1e-4)


@pytest.mark.parametrize('size, crop, stride', [((25, 41), (8, 11), (5, 7)),
                                                ((9, 50), (16, 16), (3, 13)),
                                                ((17, 17), (4, 4), (4, 4))])
def test_every_pixel_is_covered(size, crop, stride):
    class Ones(BaseSegmentor):

        def forward_logits(self, inputs: Tensor) -> Tensor:
            return inputs.new_ones(inputs.shape[0], 2, *inputs.shape[2:])

    # A pixel no window covered would be 0 / 0 = NaN.
    result = Ones(num_classes=2, test_cfg=slide(crop, stride))(
        torch.zeros(2, 3, *size), mode='predict')
    assert torch.equal(logits(result), torch.ones(2, 2, *size))


def test_slide_goes_through_test_step_with_padding_and_odd_sizes():
    model = Conv(test_cfg=slide((16, 16), (8, 8)),
                 data_preprocessor=dict(type='SegDataPreProcessor',
                                        size_divisor=8))
    shapes = [(37, 53), (21, 30)]
    data = dict(inputs=[torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
                        for h, w in shapes],
                data_samples=[SegDataSample(metainfo=dict(
                    img_shape=s, ori_shape=s)) for s in shapes])
    with torch.no_grad():
        results = model.test_step(data)
    assert [r.pred_sem_seg.shape for r in results] == shapes
    assert model.calls and all(c[2:] == (16, 16) for c in model.calls)


def test_flip_on_a_flip_equivariant_model_changes_nothing():
    torch.manual_seed(4)
    inputs = torch.randn(2, 3, 11, 15)
    plain = predict(Conv(), inputs)
    flipped = predict(Conv(test_cfg=dict(flip=True)), inputs)
    torch.testing.assert_close(logits(flipped).softmax(1),
                               logits(plain).softmax(1))
    assert all(torch.equal(a.pred_sem_seg.data, b.pred_sem_seg.data)
               for a, b in zip(plain, flipped))


def test_flip_averages_the_probabilities_of_both_views():
    inputs = torch.zeros(1, 3, 4, 9)
    plain = predict(ColumnRamp(num_classes=2), inputs)[0]
    assert plain.pred_sem_seg.data[0, 0].tolist() == [0] * 5 + [1] * 4
    tta = predict(ColumnRamp(num_classes=2, test_cfg=dict(flip=True)),
                  inputs)[0]
    # p(x) and its mirror p(w-1-x) = 1 - p(x) average to exactly 1/2.
    torch.testing.assert_close(tta.seg_logits.data.softmax(0),
                               torch.full((2, 4, 9), 0.5))
    assert not torch.equal(tta.pred_sem_seg.data, plain.pred_sem_seg.data)


def test_flip_mirrors_each_image_inside_its_own_padding():
    batch = torch.arange(2 * 1 * 2 * 4.).reshape(2, 1, 2, 4)
    mirrored = mirror_images(batch, [(2, 3), (1, 4)])
    assert mirrored[0, 0].tolist() == [[2, 1, 0, 3], [6, 5, 4, 7]]
    assert mirrored[1, 0].tolist() == [[11, 10, 9, 8], [12, 13, 14, 15]]
    assert torch.equal(mirror_images(mirrored, [(2, 3), (1, 4)]), batch)


@pytest.mark.parametrize('threshold', [0.3, 0.5, 0.7])
def test_binary_threshold_applies_to_the_averaged_sigmoid(threshold):
    torch.manual_seed(5)
    inputs = torch.randn(1, 3, 13, 17)
    model = Conv(num_classes=1, threshold=threshold,
                 test_cfg=slide((8, 8), (5, 5)))
    plain = predict(model, inputs)[0]
    model.test_cfg = dataclasses.replace(model.test_cfg, flip=True)
    tta = predict(model, inputs)[0]
    # A 1×1 conv is flip-equivariant: both views agree, so the averaged
    # sigmoid is the plain one and so is every thresholded pixel.
    prob = plain.seg_logits.data.sigmoid()
    torch.testing.assert_close(tta.seg_logits.data.sigmoid(), prob)
    assert torch.equal(plain.pred_sem_seg.data, (prob > threshold).long())
    assert torch.equal(tta.pred_sem_seg.data, plain.pred_sem_seg.data)
    assert 0 < plain.pred_sem_seg.data.float().mean() < 1


def test_binary_flip_averages_sigmoids_not_logits():
    class Skewed(BaseSegmentor):
        """Logit 8 in the left column, -1 elsewhere: mirrored, the 8 lands
        on the right column."""

        def forward_logits(self, inputs: Tensor) -> Tensor:
            out = inputs.new_full((inputs.shape[0], 1, *inputs.shape[2:]),
                                  -1.)
            out[..., 0] = 8
            return out

    tta = predict(Skewed(num_classes=1, threshold=0.7,
                         test_cfg=dict(flip=True)),
                  torch.zeros(1, 3, 2, 5))[0]
    expected = (torch.tensor(8.).sigmoid() + torch.tensor(-1.).sigmoid()) / 2
    prob = tta.seg_logits.data.sigmoid()[0]
    torch.testing.assert_close(prob[:, [0, 4]], expected.expand(2, 2))
    # Averaged logits, 3.5, would make the outer columns foreground at 0.7;
    # the averaged probability, 0.63, does not.
    assert torch.tensor(3.5).sigmoid() > 0.7 > expected
    assert not tta.pred_sem_seg.data.any()


@pytest.mark.parametrize('cfg, message', [
    (dict(mode='tiles'), r"mode='tiles'"),
    (dict(mode='slide', crop_size=8), r'needs crop_size and stride'),
    (slide((8, 8), (9, 4)), r'stride=\(9, 4\) exceeds crop_size'),
    (slide((8, 0), 4), r'crop_size=\(8, 0\)'),
    (dict(flips=True), r"unknown keys \['flips'\]"),
    (dict(window_batch=0), r'window_batch=0'),
    (dict(precision='fp8'), r"precision='fp8'"),
    (dict(scales=[]), r'scales=\[\]: expected a non-empty list'),
    (dict(scales=[1.0, 0]), r'scales=\[1.0, 0\]'),
    (dict(scales=1.25), r'scales=1.25'),
    (dict(scales=[True]), r'scales=\[True\]'),
    (dict(min_area=-1), r'min_area=-1: expected a number of pixels'),
    (dict(min_area=2.5), r'min_area=2.5: expected a number of pixels'),
    (dict(min_area=10), r'min_area=10: only a binary model .* this one has '
     r'num_classes=3: remove min_area'),
])
def test_bad_test_cfg_is_refused_at_construction(cfg, message):
    with pytest.raises(ValueError, match=message):
        Conv(test_cfg=cfg)


class Blobs(BaseSegmentor):
    """Binary: foreground (logit 4) where the first input channel is
    positive, background (-4) elsewhere."""

    def forward_logits(self, inputs: Tensor) -> Tensor:
        return torch.where(inputs[:, :1] > 0, 4., -4.)


@pytest.mark.parametrize('test_cfg', [dict(), dict(flip=True),
                                      slide((4, 4), (3, 3))])
def test_min_area_empties_each_image_whose_foreground_is_smaller(test_cfg):
    inputs = -torch.ones(2, 3, 9, 11)
    inputs[0, 0, 2:4, 3:6] = 1  # 6 pixels
    inputs[1, 0, 1:5, 1:5] = 1  # 16 pixels
    areas = {min_area: [int(s.pred_sem_seg.data.sum()) for s in predict(
        Blobs(num_classes=1, test_cfg=dict(test_cfg, min_area=min_area)),
        inputs)] for min_area in (0, 6, 7, 17)}
    assert areas == {0: [6, 16], 6: [6, 16], 7: [0, 16], 17: [0, 0]}


def test_test_cfg_defaults_to_whole_image_without_flip():
    assert Conv().test_cfg == InferenceConfig(mode='whole', flip=False)
    assert Conv(test_cfg=slide(8, [4, 6])).test_cfg.stride == (4, 6)


class DtypeConv(Conv):
    """Conv that records the dtype its layer computed in."""

    def forward_logits(self, inputs: Tensor) -> Tensor:
        out = self.conv(inputs)
        self.calls.append(out.dtype)
        return out


@pytest.mark.parametrize('test_cfg', [dict(), slide(6, 4)])
@pytest.mark.parametrize('precision, cpu_bf16, computed', [
    ('fp32', True, torch.float32),
    ('auto', True, torch.bfloat16),
    ('bf16', True, torch.bfloat16),
    ('auto', False, torch.float32),
])
def test_precision_autocasts_the_network_and_returns_float32_logits(
        monkeypatch, test_cfg, precision, cpu_bf16, computed):
    monkeypatch.setattr(optim_precision, 'cpu_supports_bf16',
                        lambda: cpu_bf16)
    inputs = torch.randn(2, 3, 9, 11)
    reference = logits(predict(DtypeConv(kernel=3, test_cfg=test_cfg),
                               inputs))
    model = DtypeConv(kernel=3, test_cfg=dict(test_cfg, precision=precision))
    samples = predict(model, inputs)
    assert set(model.calls) == {computed}
    assert logits(samples).dtype == torch.float32
    # bf16 keeps 8 bits of mantissa: within a few hundredths of fp32 here
    torch.testing.assert_close(logits(samples), reference,
                               rtol=0, atol=0 if computed == torch.float32
                               else 0.05)


def test_scales_are_floats_and_one_scale_of_1_is_a_single_view():
    assert Conv(test_cfg=dict(scales=[1, 1.5])).test_cfg.scales == (1.0, 1.5)
    assert InferenceConfig(scales=[1]).single_view
    assert not InferenceConfig(scales=[1, 1]).single_view
    with pytest.raises(ConfigValueError, match='e.g. \\[0.75, 1.0, 1.25\\]'):
        Conv().set_test_options(scales=[-1])


def test_scale_1_twice_gives_the_single_scale_prediction():
    torch.manual_seed(6)
    inputs = torch.randn(2, 3, 13, 21)
    plain = predict(Conv(kernel=3), inputs)
    assert torch.equal(logits(predict(Conv(kernel=3, test_cfg=dict(
        scales=[1.0])), inputs)), logits(plain))
    twice = predict(Conv(kernel=3, test_cfg=dict(scales=[1.0, 1.0])),
                    inputs)
    torch.testing.assert_close(logits(twice).softmax(1),
                               logits(plain).softmax(1))
    assert all(torch.equal(a.pred_sem_seg.data, b.pred_sem_seg.data)
               for a, b in zip(plain, twice))


def test_flip_at_scale_1_averages_the_two_views_as_before():
    torch.manual_seed(7)
    inputs = torch.randn(1, 3, 11, 14)
    model = Conv(kernel=3, test_cfg=dict(flip=True, scales=[1.0]))
    with torch.no_grad():
        views = (model.conv(inputs).softmax(1) +
                 model.conv(inputs.flip(-1)).flip(-1).softmax(1)) / 2
    assert torch.equal(logits(predict(model, inputs)), views.log())


def by_hand(model: BaseSegmentor, image: Tensor, scales, flip: bool,
            divisor: int) -> Tensor:
    """The mean probabilities of one normalised ``(3, h, w)`` image over
    its views, each resized, padded, run and resized back here."""
    h, w = image.shape[-2:]
    total = 0
    for scale in scales:
        size = (int(h * scale + 0.5), int(w * scale + 0.5))
        scaled = F.interpolate(image[None], size=size, mode='bilinear',
                               align_corners=False)
        for mirror in (False, True)[:1 + flip]:
            view = scaled.flip(-1) if mirror else scaled
            padded = F.pad(view, (0, -size[1] % divisor,
                                  0, -size[0] % divisor))
            out = model.forward_logits(padded)[..., :size[0], :size[1]]
            probs = model.probabilities(out.flip(-1) if mirror else out)
            total = total + F.interpolate(probs, size=(h, w),
                                          mode='bilinear',
                                          align_corners=False)[0]
    return total / (len(scales) * (1 + flip))


@pytest.mark.parametrize('num_classes, flip', [(3, False), (3, True),
                                               (1, False)])
def test_scales_average_the_probabilities_resized_back(num_classes, flip):
    """Two images of odd sizes in one padded batch through test_step: each
    image's probabilities are the mean over scales 0.5 and 1 (and mirrors)
    computed by hand; a binary model thresholds the mean sigmoid."""
    pre = dict(type='SegDataPreProcessor', size_divisor=8)
    model = Conv(num_classes=num_classes, kernel=3, threshold=0.45,
                 data_preprocessor=pre,
                 test_cfg=dict(scales=[0.5, 1.0], flip=flip))
    torch.manual_seed(8)
    shapes = [(37, 53), (21, 30)]
    images = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
              for h, w in shapes]
    data = dict(inputs=images, data_samples=[SegDataSample(metainfo=dict(
        img_shape=s, ori_shape=s)) for s in shapes])
    with torch.no_grad():
        results = model.test_step(data)
        # at 0.5: 19x27 and 11x15, padded to 24x32; then the 40x56 batch
        assert model.calls == [(2, 3, 24, 32)] * (1 + flip) + [
            (2, 3, 40, 56)] * (1 + flip)
        for image, result in zip(images, results):
            normalised = model.data_preprocessor(dict(
                inputs=[image], data_samples=None))['inputs'][0]
            expected = by_hand(model, normalised[:, :image.shape[1],
                                                 :image.shape[2]],
                               [0.5, 1.0], flip, divisor=8)
            torch.testing.assert_close(
                model.probabilities(result.seg_logits.data), expected)
            classes = ((expected > 0.45).long() if num_classes == 1 else
                       expected.argmax(0, keepdim=True))
            assert torch.equal(result.pred_sem_seg.data, classes)


def test_slide_windows_bound_every_scale():
    """Each scale runs through the windows: no network call is larger than
    the crop, at 0.5 (one clipped window) as at 1.5."""
    model = Conv(kernel=3, test_cfg=slide((16, 16), (12, 12), flip=True,
                                          scales=[0.5, 1.5],
                                          window_batch=2))
    predict(model, torch.randn(1, 3, 30, 40))
    # 15x20 at 0.5: one row of two windows, clipped to the 15 rows
    assert model.calls[0] == (2, 3, 15, 16)
    assert all(call[0] <= 2 and call[2:] <= (16, 16) for call in model.calls)
    assert {call[2:] for call in model.calls} == {(15, 16), (16, 16)}
