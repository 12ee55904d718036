"""BaseDecodeHead's input selection and the heads' own argument checks."""
import pytest
import torch

from segkit.registry import MODELS

CHANNELS, STRIDES = [4, 8, 16, 32], [4, 8, 16, 32]


def head(**cfg):
    cfg.setdefault('in_channels', CHANNELS)
    cfg.setdefault('in_strides', STRIDES)
    cfg.setdefault('num_classes', 3)
    return MODELS.build(cfg)


def features(size=32):
    return [torch.randn(2, c, size // s, size // s)
            for c, s in zip(CHANNELS, STRIDES)]


def test_in_index_picks_the_channels_the_head_reads():
    fcn = head(type='FCNHead', channels=4, in_index=1)
    assert fcn.in_channels == 8 and fcn.in_strides == [8]
    assert fcn(features()).shape == (2, 3, 4, 4)


def test_resize_concat_joins_the_selected_maps_at_the_first_size():
    fcn = head(type='FCNHead', channels=4, in_index=[0, 2],
               input_transform='resize_concat')
    assert fcn.in_channels == 4 + 16
    assert fcn.select_inputs(features()).shape == (2, 20, 8, 8)


@pytest.mark.parametrize('cfg, message', [
    (dict(type='FCNHead', channels=4, in_index=[0, 1]),
     'expected an int without input_transform'),
    (dict(type='FCNHead', channels=4, in_index=7),
     'in_index=7: the backbone returns 4 feature maps'),
    (dict(type='FCNHead', channels=4, input_transform='stack'),
     "input_transform='stack': expected one of"),
    (dict(type='FCNHead', channels=4, num_classes=0),
     'num_classes=0: expected an int >= 1'),
    (dict(type='UNetHead', decoder_channels=(8, 4)),
     r'decoder_channels=\(8, 4\): expected 5 entries, one per up-step from '
     'stride 32 to 1'),
    (dict(type='UNetHead', output_stride=2, decoder_channels=(8, 4)),
     r'expected 4 entries, one per up-step from stride 32 to 2'),
    (dict(type='UNetHead', output_stride=3),
     'output_stride=3: expected a power of 2 from 1 to the shallowest '
     "skip's stride 4"),
    (dict(type='UNetHead', output_stride=8),
     'output_stride=8: expected a power of 2'),
    (dict(type='UNetHead', upsample='pixelshuffle'),
     "upsample='pixelshuffle': expected one of"),
    (dict(type='DepthwiseSeparableASPPHead', low_level_stride=2),
     r'low_level_stride=2: the backbone returns strides \(4, 8, 16, 32\)'),
])
def test_bad_head_arguments_fail_at_build_time(cfg, message):
    with pytest.raises(ValueError, match=message):
        head(**cfg)


def test_unet_head_reaches_stride_one_below_the_first_skip():
    unet = head(type='UNetHead')
    # 3 skips (16, 8, 4) then 2 blocks without one (stride 2, then 1).
    assert len(unet.blocks) == 5
    assert unet(features()).shape == (2, 3, 32, 32)


def test_unet_head_output_stride_leaves_out_the_finest_blocks():
    unet = head(type='UNetHead', output_stride=2)
    # 3 skips (16, 8, 4), then one block (stride 2) at half the last skip's
    assert len(unet.blocks) == 4 and unet.channels == 2
    assert unet(features()).shape == (2, 3, 16, 16)
    model = MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='TorchvisionBackbone', name='resnet18'),
        decode_head=dict(type='UNetHead', output_stride=2, num_classes=3)))
    # the logits at stride 2, resized to the input by the segmentor
    assert model.decode_head(model.extract_features(
        torch.randn(1, 3, 64, 96))).shape == (1, 3, 32, 48)
    assert model.forward_logits(torch.randn(1, 3, 64, 96)).shape == (
        1, 3, 64, 96)


def test_fpn_head_predicts_at_the_finest_stride():
    assert head(type='FPNHead', channels=4)(features()).shape == (2, 3, 8, 8)
