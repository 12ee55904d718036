"""One contract for every backbone × head that fits together, in the spirit
of smp's shared model tests: odd sizes, channels_last, 1 and 4 input
channels, forward and backward, a state-dict round trip, a binary head and
the error that names the divisor. Small widths keep it inside CI time."""
import copy
import functools
import io
from typing import Dict, NamedTuple, Optional

import pytest
import torch
from mmengine.structures import PixelData

from segkit.registry import MODELS
from segkit.structures import SegDataSample


class Combo(NamedTuple):
    backbone: str  # a key of BACKBONES
    head: dict
    neck: Optional[dict] = None


BACKBONES: Dict[str, dict] = {
    'unet_encoder': dict(type='UNetEncoder', base_channels=4, depth=3),
    'tv_resnet18': dict(type='TorchvisionBackbone', name='resnet18'),
    'tv_mobilenet_v3': dict(type='TorchvisionBackbone',
                            name='mobilenet_v3_large', output_stride=16),
    'timm_mobilenetv3': dict(type='TimmBackbone',
                             model_name='mobilenetv3_small_050'),
    'timm_pvt_v2': dict(type='TimmBackbone', model_name='pvt_v2_b0'),
    'full_res_stem': dict(type='FullResolutionStem', channels=4,
                          backbone=dict(type='UNetEncoder', base_channels=4,
                                        depth=2)),
}
HEADS: Dict[str, dict] = {
    'fcn': dict(type='FCNHead', channels=8),
    'unet': dict(type='UNetHead',
                 decoder_channels=None),  # the skips' own channels
    'fpn': dict(type='FPNHead', channels=8),
    'aspp': dict(type='ASPPHead', channels=8),
    'sep_aspp': dict(type='DepthwiseSeparableASPPHead', channels=8,
                     low_level_channels=4),
    'segformer': dict(type='SegFormerHead', channels=8),
}
NECKS = {'fpn': dict(type='FPN', out_channels=8)}


# Heads each backbone is tested with; MobileNetV3 is DeepLabV3's backbone,
# the full-resolution stem is there for the U-Net decoder's last skip.
ONLY = {'tv_mobilenet_v3': ('fcn', 'aspp', 'unet'),
        'full_res_stem': ('unet', )}
SIZE = (32, 32)


def combos():
    for b_name in BACKBONES:
        for h_name, head in HEADS.items():
            if h_name not in ONLY.get(b_name, HEADS):
                continue
            yield pytest.param(
                Combo(b_name, head, NECKS['fpn'] if h_name == 'fpn'
                      else None), id=f'{b_name}-{h_name}')


@functools.lru_cache(maxsize=None)
def divisor_of(backbone: str) -> int:
    """The largest stride of ``BACKBONES[backbone]``, built once."""
    return max(MODELS.build(copy.deepcopy(BACKBONES[backbone])).strides)


def build(combo: Combo, num_classes: int = 3, in_channels: int = 3,
          seed: int = 0, losses=None):
    torch.manual_seed(seed)
    backbone = dict(BACKBONES[combo.backbone], in_channels=in_channels)
    head = dict(combo.head, num_classes=num_classes)
    if losses is not None:
        head['loss_decode'] = losses
    return MODELS.build(dict(
        type='EncoderDecoder', backbone=backbone, neck=combo.neck,
        decode_head=head,
        data_preprocessor=dict(type='SegDataPreProcessor',
                               size_divisor=divisor_of(combo.backbone))))


def samples_for(masks: torch.Tensor):
    samples = []
    for mask in masks:
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=mask[None])
        samples.append(sample)
    return samples


@pytest.fixture(scope='module', params=list(combos()))
def combo(request) -> Combo:
    return request.param


@pytest.fixture(scope='module')
def model(combo):
    return build(combo).eval()


def test_odd_sizes_give_logits_at_the_input_size(model):
    for size in ((37, 45), (32, 71)):
        with torch.no_grad():
            logits = model(torch.randn(1, 3, *size))
        assert logits.shape == (1, 3, *size)
        assert torch.isfinite(logits).all()


def test_channels_last_gives_the_same_logits(model):
    x = torch.randn(2, 3, *SIZE)
    with torch.no_grad():
        plain = model(x)
        last = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(last, plain, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize('in_channels', [1, 4])
def test_other_input_channels(combo, in_channels):
    model = build(combo, in_channels=in_channels).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, in_channels, *SIZE))
    assert logits.shape == (1, 3, *SIZE)


def test_forward_backward_reaches_every_trainable_weight(combo):
    model = build(combo).train()
    x = torch.randn(2, 3, *SIZE)
    losses = model(x, samples_for(torch.randint(0, 3, (2, *SIZE))),
                   mode='loss')
    assert list(losses) == ['decode.loss_ce']
    losses['decode.loss_ce'].backward()
    without = [name for name, p in model.named_parameters()
               if p.requires_grad and p.grad is None]
    assert not without


def test_state_dict_round_trip(combo, model):
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    other = build(combo, seed=1).eval()
    buffer.seek(0)
    other.load_state_dict(torch.load(buffer), strict=True)
    x = torch.randn(1, 3, *SIZE)
    with torch.no_grad():
        torch.testing.assert_close(other(x), model(x))


def test_binary_head_thresholds_a_sigmoid(combo):
    model = build(combo, num_classes=1, losses=[
        dict(type='BCEWithLogitsLoss'), dict(type='DiceLoss')])
    x = torch.randn(2, 3, *SIZE)
    losses = model(x, samples_for(torch.randint(0, 2, (2, *SIZE))),
                   mode='loss')
    assert set(losses) == {'decode.loss_bce', 'decode.loss_dice'}
    model.eval()
    with torch.no_grad():
        [sample] = model(x[:1], mode='predict')
    assert sample.seg_logits.data.shape == (1, *SIZE)
    expected = (sample.seg_logits.data.sigmoid() > model.threshold).long()
    assert torch.equal(sample.pred_sem_seg.data, expected)


def test_too_small_an_input_names_the_divisor(model):
    divisor = model.size_divisor
    with pytest.raises(ValueError, match=rf'needs inputs of at least '
                       rf'{divisor}×{divisor} \(its largest stride\)'):
        model(torch.randn(1, 3, divisor - 1, 2 * divisor))
