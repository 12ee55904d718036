"""Backbones: their contract (channels, strides, output stride, frozen
stages, norm_eval) and pretrained weights from local files, proven tensor
by tensor against files the tests write from random torchvision and timm
models."""
import pytest
import timm
import torch
import torchvision
from safetensors.torch import save_file

from segkit.models.backbones.pretrained import adapt_input_conv
from segkit.registry import MODELS
from segkit.utils import CheckpointMismatchError


def build(**cfg):
    return MODELS.build(cfg)


@pytest.mark.parametrize('name', ['resnet18', 'resnet34', 'resnet50',
                                  'resnet101', 'mobilenet_v3_large',
                                  'convnext_tiny'])
def test_torchvision_features_have_the_stated_channels_and_strides(name):
    backbone = build(type='TorchvisionBackbone', name=name).eval()
    with torch.no_grad():
        features = backbone(torch.randn(1, 3, 64, 96))
    assert [f.shape[1] for f in features] == list(backbone.out_channels)
    assert [64 // f.shape[2] for f in features] == list(backbone.strides)
    assert [96 // f.shape[3] for f in features] == list(backbone.strides)


@pytest.mark.parametrize('name', ['resnet18', 'resnet50',
                                  'mobilenet_v3_large'])
@pytest.mark.parametrize('output_stride', [8, 16])
def test_output_stride_by_dilation(name, output_stride):
    backbone = build(type='TorchvisionBackbone', name=name,
                     output_stride=output_stride).eval()
    with torch.no_grad():
        deepest = backbone(torch.randn(1, 3, 64, 64))[-1]
    assert deepest.shape[-1] == 64 // output_stride
    assert max(backbone.strides) == output_stride


def test_timm_output_stride_and_out_indices():
    backbone = build(type='TimmBackbone', model_name='resnet18',
                     output_stride=16, out_indices=(1, 4)).eval()
    assert backbone.strides == (4, 16) and backbone.out_channels == (64, 512)
    with torch.no_grad():
        assert [f.shape[-1] for f in backbone(torch.randn(1, 3, 64, 64))] \
            == [16, 4]


def test_out_indices_select_stages():
    backbone = build(type='TorchvisionBackbone', name='resnet50',
                     out_indices=(1, 3))
    assert backbone.out_channels == (256, 1024)
    assert backbone.strides == (4, 16)
    assert len(backbone(torch.randn(1, 3, 64, 64))) == 2


@pytest.mark.parametrize('name, depth', [('resnet18', 4),
                                         ('mobilenet_v3_large', 3)])
def test_stages_past_out_indices_are_not_built(name, depth):
    # smp's encoder_depth: a shallower encoder holds no unused parameters,
    # which DDP would refuse.
    full = build(type='TorchvisionBackbone', name=name)
    shallow = build(type='TorchvisionBackbone', name=name,
                    out_indices=tuple(range(depth)))
    dropped = full.stages()[depth:]
    assert len(shallow.stages()) == depth
    assert (sum(p.numel() for p in shallow.parameters())
            == sum(p.numel() for p in full.parameters())
            - sum(p.numel() for stage in dropped for p in stage.parameters()))
    features = shallow(torch.randn(2, 3, 64, 64))
    features[-1].mean().backward()
    assert all(p.grad is not None for p in shallow.parameters())


@pytest.mark.parametrize('cfg, message', [
    (dict(type='TorchvisionBackbone', name='resnet9'),
     r"name='resnet9': expected one of \['convnext_tiny'"),
    (dict(type='TorchvisionBackbone', name='convnext_tiny', output_stride=8),
     'cannot dilate to output_stride=8'),
    (dict(type='TorchvisionBackbone', name='resnet18', out_indices=(5, )),
     r'out_indices=\(5,\): expected distinct stage indices in 0..4'),
    (dict(type='TimmBackbone', model_name='no_such_net'),
     "model_name='no_such_net'"),
    (dict(type='UNetEncoder', depth=0), 'depth=0: expected an int >= 1'),
    (dict(type='FullResolutionStem', channels=0,
          backbone=dict(type='UNetEncoder', depth=1)),
     'channels=0: expected at least 1'),
])
def test_bad_arguments_fail_at_build_time(cfg, message):
    with pytest.raises(ValueError, match=message):
        build(**cfg)


@pytest.mark.parametrize('cfg', [
    dict(type='TorchvisionBackbone', name='resnet18'),
    dict(type='TimmBackbone', model_name='mobilenetv3_small_050'),
    dict(type='UNetEncoder', base_channels=4, depth=2),
])
def test_frozen_stages_keep_weights_and_statistics(cfg):
    backbone = build(**cfg, frozen_stages=1)
    backbone.init_weights()
    backbone.train()
    frozen = [p for stage in backbone.stages()[:2] for p in stage.parameters()]
    assert frozen and not any(p.requires_grad for p in frozen)
    later = [p for stage in backbone.stages()[2:] for p in stage.parameters()]
    assert later and all(p.requires_grad for p in later)
    norms = [m for stage in backbone.stages()[:2] for m in stage.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and not any(m.training for m in norms)


def test_full_resolution_stem_puts_a_stride_1_feature_first():
    inner = dict(type='TorchvisionBackbone', name='resnet18',
                 out_indices=(0, 1, 2, 3))
    torch.manual_seed(0)
    wrapped = build(type='FullResolutionStem', backbone=inner, channels=8,
                    in_channels=4).eval()
    torch.manual_seed(0)
    alone = build(**inner, in_channels=4).eval()
    assert wrapped.out_channels == (8, 64, 64, 128, 256)
    assert wrapped.strides == (1, 2, 4, 8, 16)
    x = torch.randn(2, 4, 48, 64)
    with torch.no_grad():
        features = wrapped(x)
        inner_features = alone(x)
    assert features[0].shape == (2, 8, 48, 64)
    # The wrapped backbone is built first, so it draws the same weights.
    assert len(features) == 1 + len(inner_features)
    for got, expected in zip(features[1:], inner_features):
        torch.testing.assert_close(got, expected)
    assert wrapped.stages()[0] is wrapped.stem


def test_norm_eval_keeps_every_batchnorm_in_eval_mode():
    backbone = build(type='TorchvisionBackbone', name='resnet18',
                     norm_eval=True).train()
    norms = [m for m in backbone.modules()
             if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms)
    assert backbone.body.layer1.training  # only the norms


# --- pretrained weights ------------------------------------------------------


@pytest.fixture(scope='module')
def resnet18_file(tmp_path_factory):
    torch.manual_seed(3)
    model = torchvision.models.resnet18()
    path = tmp_path_factory.mktemp('weights') / 'resnet18.pth'
    torch.save(model.state_dict(), path)
    return str(path), model.state_dict()


@pytest.mark.parametrize('in_channels', [3, 1, 4])
def test_torchvision_imagenet_file_loads_every_tensor(resnet18_file,
                                                      in_channels):
    path, saved = resnet18_file
    backbone = build(type='TorchvisionBackbone', name='resnet18',
                     in_channels=in_channels,
                     init_cfg=dict(type='Pretrained', checkpoint=path))
    backbone.init_weights()
    own = backbone.state_dict()
    assert set(own) == {f'body.{k}' for k in saved
                        if not k.startswith('fc.')}
    for key, value in own.items():
        expected = saved[key[len('body.'):]]
        if key == 'body.conv1.weight':
            expected = adapt_input_conv(expected, in_channels)
        assert torch.equal(value, expected), key


def test_imagenet_file_loads_into_a_shallower_backbone(resnet18_file):
    # The file's keys for the stage a depth-4 encoder drops are skipped,
    # as the classifier's are; every kept tensor is the file's.
    path, saved = resnet18_file
    backbone = build(type='TorchvisionBackbone', name='resnet18',
                     out_indices=(0, 1, 2, 3),
                     init_cfg=dict(type='Pretrained', checkpoint=path))
    backbone.init_weights()
    own = backbone.state_dict()
    assert set(own) == {f'body.{k}' for k in saved
                        if not k.startswith(('fc.', 'layer4.'))}
    for key, value in own.items():
        assert torch.equal(value, saved[key[len('body.'):]]), key


def test_imagenet_file_loads_into_a_backbone_under_a_full_resolution_stem(
        resnet18_file):
    path, saved = resnet18_file
    wrapped = build(type='FullResolutionStem', backbone=dict(
        type='TorchvisionBackbone', name='resnet18',
        init_cfg=dict(type='Pretrained', checkpoint=path)))
    wrapped.init_weights()
    own = wrapped.backbone.state_dict()
    assert set(own) == {f'body.{k}' for k in saved
                        if not k.startswith('fc.')}
    for key, value in own.items():
        assert torch.equal(value, saved[key[len('body.'):]]), key


def test_adapted_first_conv_keeps_the_rgb_response():
    weight = torch.randn(8, 3, 3, 3)
    grey = torch.rand(1, 1, 5, 5)
    conv = torch.nn.functional.conv2d
    # A grey image through the summed kernel = RGB copies through the old.
    torch.testing.assert_close(conv(grey, adapt_input_conv(weight, 1)),
                               conv(grey.expand(1, 3, 5, 5), weight))
    four = adapt_input_conv(weight, 4)
    assert four.shape == (8, 4, 3, 3)
    torch.testing.assert_close(four[:, 3], weight[:, 0] * 0.75)


def test_segmentor_checkpoint_loads_into_a_backbone_by_prefix(tmp_path):
    torch.manual_seed(0)
    donor = build(type='TorchvisionBackbone', name='resnet18')
    path = tmp_path / 'segmentor.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in
                               donor.state_dict().items()}}, path)
    backbone = build(type='TorchvisionBackbone', name='resnet18',
                     init_cfg=dict(type='Pretrained', checkpoint=str(path),
                                   prefix='backbone.'))
    backbone.init_weights()
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, donor.state_dict()[key]), key


def test_a_file_that_does_not_fit_is_refused_with_its_keys(resnet18_file):
    path, _ = resnet18_file
    backbone = build(type='TorchvisionBackbone', name='resnet50',
                     init_cfg=dict(type='Pretrained', checkpoint=path))
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    with pytest.raises(CheckpointMismatchError,
                       match=r'(?s)resnet18.pth fits .* of the .* tensors of '
                       r'TorchvisionBackbone.*size mismatch.*missing key'):
        backbone.init_weights()
    assert all(torch.equal(v, before[k])
               for k, v in backbone.state_dict().items())


def test_missing_weight_file_says_nothing_downloads(tmp_path):
    backbone = build(type='TorchvisionBackbone', name='resnet18',
                     init_cfg=dict(type='Pretrained',
                                   checkpoint=str(tmp_path / 'r18.pth')))
    with pytest.raises(FileNotFoundError,
                       match=r'r18.pth not found: expected a local .pth or '
                       r'.safetensors file, or the name of installed weights '
                       r'\(.*\); segkit never downloads'):
        backbone.init_weights()


@pytest.mark.parametrize('model_name', ['resnet18', 'pvt_v2_b0'])
@pytest.mark.parametrize('in_channels', [3, 1])
def test_timm_safetensors_file_loads_every_tensor(tmp_path, model_name,
                                                  in_channels):
    torch.manual_seed(5)
    full = timm.create_model(model_name)
    path = tmp_path / f'{model_name}.safetensors'
    save_file({k: v.contiguous() for k, v in full.state_dict().items()},
              str(path))
    backbone = build(type='TimmBackbone', model_name=model_name,
                     in_channels=in_channels,
                     init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    backbone.init_weights()
    saved = full.state_dict()
    for key, value in backbone.state_dict().items():
        name = key[len('model.'):]
        # features_only flattens e.g. stages.0 into stages_0
        name = name if name in saved else name.replace('_', '.', 1)
        expected = saved[name]
        if expected.shape != value.shape:  # the adapted first convolution
            expected = adapt_input_conv(expected, in_channels)
        assert torch.equal(value, expected), key
