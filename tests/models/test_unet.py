"""UNet: shapes at any input size, the paper's size, and the three modes."""
import math

import pytest
import torch
from mmengine.structures import PixelData

from segkit.models import UNet
from segkit.registry import MODELS
from segkit.structures import SegDataSample


def small_unet(**kwargs) -> UNet:
    kwargs = dict(num_classes=3, base_channels=4, depth=3) | kwargs
    return UNet(**kwargs)


def sample_with_mask(mask: torch.Tensor, **metainfo) -> SegDataSample:
    sample = SegDataSample(metainfo=metainfo)
    sample.gt_sem_seg = PixelData(data=mask[None])
    return sample


def unet_param_count(in_ch, num_classes, base, depth, upsample) -> int:
    """Counted from the architecture by hand: bias-free 3×3 convs + BN."""
    def double_conv(c_in, c_out):
        # two bias-free 3×3 convs, each followed by BN (weight and bias)
        return 9 * c_in * c_out + 2 * c_out + 9 * c_out * c_out + 2 * c_out

    chans = [base * 2**i for i in range(depth + 1)]
    total = double_conv(in_ch, chans[0])
    total += sum(double_conv(chans[i], chans[i + 1]) for i in range(depth))
    for i in range(depth):  # up: chans[i+1] -> chans[i], then concat
        kernel = 4 if upsample == 'deconv' else 1
        total += kernel * chans[i + 1] * chans[i] + chans[i]
        total += double_conv(2 * chans[i], chans[i])
    return total + chans[0] * num_classes + num_classes


@pytest.fixture(scope='module')
def paper_unet() -> UNet:
    return UNet(num_classes=2)


def test_paper_unet_has_31m_parameters(paper_unet):
    count = sum(p.numel() for p in paper_unet.parameters())
    assert count == unet_param_count(3, 2, 64, 4, 'deconv') == 31_037_698
    assert count / 1e6 == pytest.approx(31.0, abs=0.05)


def test_bilinear_unet_parameter_count():
    model = UNet(num_classes=5, in_channels=1, base_channels=8, depth=3,
                 upsample='bilinear')
    assert sum(p.numel() for p in model.parameters()) == unet_param_count(
        1, 5, 8, 3, 'bilinear')


def test_convs_start_from_kaiming_normal(paper_unet):
    conv = paper_unet.encoder[1][3]  # 3×3, 128 -> 128: fan-in 1152
    assert conv.weight.std().item() == pytest.approx(
        math.sqrt(2 / (9 * 128)), rel=0.02)
    assert torch.count_nonzero(paper_unet.head.bias) == 0
    assert torch.count_nonzero(paper_unet.decoder[0].up.bias) == 0


@pytest.mark.parametrize('upsample', ['deconv', 'bilinear'])
@pytest.mark.parametrize('depth', [3, 4])
@pytest.mark.parametrize('size', [(37, 53), (64, 64), (100, 75)])
def test_logits_have_input_size(size, depth, upsample):
    model = small_unet(depth=depth, upsample=upsample)
    logits = model(torch.randn(1, 3, *size), mode='tensor')
    assert logits.shape == (1, 3, *size)


def test_channels_last_input_gives_the_same_logits():
    model = small_unet().eval()
    x = torch.randn(2, 3, 37, 53)
    with torch.no_grad():
        expected = model(x)
        got = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_rejects_input_smaller_than_two_to_the_depth():
    with pytest.raises(ValueError, match=r'at least 8×8, got \(7, 20\)'):
        small_unet(depth=3)(torch.randn(1, 3, 7, 20))


@pytest.mark.parametrize('kwargs, message', [
    (dict(upsample='nearest'), "upsample must be one of .*'nearest'"),
    (dict(depth=0), 'depth must be an int >= 1, got 0'),
    (dict(base_channels=2.5), 'base_channels must be an int >= 1, got 2.5'),
])
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_unet(**kwargs)


def test_loss_mode_sums_two_named_losses_and_backpropagates():
    model = MODELS.build(dict(
        type='UNet', num_classes=3, base_channels=4, depth=3,
        loss_decode=[dict(type='CrossEntropyLoss', loss_weight=1.0),
                     dict(type='DiceLoss', loss_weight=1.0)]))
    masks = torch.randint(0, 3, (2, 37, 53))
    masks[0, :5] = 255
    losses = model(torch.randn(2, 3, 37, 53),
                   [sample_with_mask(m) for m in masks], mode='loss')
    assert set(losses) == {'loss_ce', 'loss_dice'}
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    total, log_vars = model.parse_losses(losses)
    assert total.item() == pytest.approx(
        losses['loss_ce'].item() + losses['loss_dice'].item(), rel=1e-6)
    total.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.parameters())


def test_binary_unet_with_default_cross_entropy_says_what_to_use():
    model = small_unet(num_classes=1)
    with pytest.raises(ValueError, match='BCEWithLogitsLoss'):
        model(torch.randn(1, 3, 16, 16),
              [sample_with_mask(torch.zeros(16, 16, dtype=torch.long))],
              mode='loss')


def test_binary_unet_trains_and_thresholds():
    model = small_unet(num_classes=1, loss_decode=[
        dict(type='BCEWithLogitsLoss'), dict(type='DiceLoss')])
    mask = torch.randint(0, 2, (21, 30))
    losses = model(torch.randn(1, 3, 21, 30), [sample_with_mask(mask)],
                   mode='loss')
    assert set(losses) == {'loss_bce', 'loss_dice'}
    sum(losses.values()).backward()

    model.eval()
    x = torch.randn(1, 3, 21, 30)
    with torch.no_grad():
        logits = model(x, mode='tensor')
        prob = logits.sigmoid()[0]
        for threshold in (0.0, 0.5, 1.0):
            model.threshold = threshold
            pred = model(x, mode='predict')[0].pred_sem_seg.data
            assert pred.dtype == torch.long and pred.shape == (1, 21, 30)
            assert torch.equal(pred, (prob > threshold).long())
    assert model.threshold == 1.0 and not pred.any()


def test_tensor_mode_returns_logits():
    model = small_unet().eval()
    x = torch.randn(2, 3, 24, 40)
    with torch.no_grad():
        logits = model(x, mode='tensor')
        assert torch.equal(logits, model.forward_logits(x))
    assert logits.shape == (2, 3, 24, 40) and logits.dtype == torch.float32


def test_predict_through_preprocessor_restores_original_sizes():
    """Two images of different sizes, padded into one batch; one of them was
    resized by the pipeline (ori_shape ≠ img_shape)."""
    model = small_unet(data_preprocessor=dict(
        type='SegDataPreProcessor', size_divisor=8)).eval()
    shapes = [(37, 53), (30, 45)]
    ori_shapes = [(74, 106), (30, 45)]
    data = dict(
        inputs=[torch.randint(0, 256, (3, *s), dtype=torch.uint8)
                for s in shapes],
        data_samples=[SegDataSample(metainfo=dict(img_shape=s, ori_shape=o))
                      for s, o in zip(shapes, ori_shapes)])
    with torch.no_grad():
        data = model.data_preprocessor(data, training=False)
        assert data['inputs'].shape[-2:] == (40, 56)
        results = model(**data, mode='predict')
    for sample, ori in zip(results, ori_shapes):
        assert sample.pred_sem_seg.data.shape == (1, *ori)
        assert sample.seg_logits.data.shape == (3, *ori)
        assert torch.equal(sample.pred_sem_seg.data,
                           sample.seg_logits.data.argmax(0, keepdim=True))


def test_predict_undoes_horizontal_flip():
    model = small_unet().eval()
    x = torch.randn(1, 3, 29, 34)
    meta = dict(img_shape=(29, 34), ori_shape=(29, 34))
    with torch.no_grad():
        plain = model(x, [SegDataSample(metainfo=meta)], mode='predict')[0]
        flipped = model(x, [SegDataSample(metainfo=dict(
            meta, flip=True, flip_direction='horizontal'))],
            mode='predict')[0]
    assert not torch.equal(plain.seg_logits.data, flipped.seg_logits.data)
    assert torch.equal(flipped.seg_logits.data,
                       plain.seg_logits.data.flip(-1))
