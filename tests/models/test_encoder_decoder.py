"""EncoderDecoder: heads own their losses, aux heads only train, the divisor
is checked at build time, every config builds, and older segkit and
torchvision checkpoints load into today's layout with identical outputs."""
from pathlib import Path

import pytest
import torch
import torchvision
from mmengine.runner import load_checkpoint
from mmengine.structures import PixelData

from segkit.apis import init_model
from segkit.engine import load_model_weights
from segkit.registry import MODELS
from segkit.structures import SegDataSample

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / 'configs').glob('*.py'))
LEGACY_UNET = REPO / 'tests' / 'data' / 'legacy_unet.pth'


def samples_for(masks):
    samples = []
    for mask in masks:
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=mask[None])
        samples.append(sample)
    return samples


def deeplab(name: str = 'mobilenet_v3_large', **aux):
    stride, indices, width = ((16, (2, 4), 10) if name.startswith('mobile')
                              else (8, (3, 4), 256))
    return MODELS.build(dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor',
                               size_divisor=stride),
        backbone=dict(type='TorchvisionBackbone', name=name,
                      output_stride=stride, out_indices=indices),
        decode_head=dict(type='ASPPHead', num_classes=5),
        auxiliary_head=dict(type='FCNHead', in_index=0, channels=width,
                            num_convs=1, concat_input=False, **aux)))


def test_losses_are_named_by_head_and_aux_weighted():
    torch.manual_seed(0)
    model = deeplab(loss_decode=dict(type='CrossEntropyLoss',
                                     loss_weight=0.4)).train()
    x = torch.randn(2, 3, 48, 48)
    samples = samples_for(torch.randint(0, 5, (2, 48, 48)))
    losses = model(x, samples, mode='loss')
    assert list(losses) == ['decode.loss_ce', 'aux0.loss_ce']
    target = torch.stack([s.gt_sem_seg.data[0] for s in samples])
    # The same weights and batch, without dropout: 0.4 x plain CE.
    model.eval()
    with torch.no_grad():
        logits = torch.nn.functional.interpolate(
            model.auxiliary_head[0](model.extract_features(x)),
            size=(48, 48), mode='bilinear')
        aux = model.auxiliary_head[0].loss(model.extract_features(x),
                                           samples)['loss_ce']
    torch.testing.assert_close(
        aux, 0.4 * torch.nn.functional.cross_entropy(logits, target))


def test_aux_heads_run_only_for_the_loss():
    model = deeplab().eval()
    calls = []
    model.auxiliary_head[0].register_forward_hook(
        lambda *args: calls.append(1))
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        model(x)
        model(x, mode='predict')
    assert not calls
    model.train()(torch.randn(2, 3, 48, 48),
                  samples_for(torch.zeros(2, 48, 48, dtype=torch.long)),
                  mode='loss')
    assert calls == [1]


def test_aux_heads_take_the_decode_heads_num_classes():
    assert deeplab().auxiliary_head[0].num_classes == 5


def test_same_named_losses_of_a_head_are_added():
    torch.manual_seed(0)
    cfg = dict(type='EncoderDecoder',
               data_preprocessor=dict(type='SegDataPreProcessor',
                                      size_divisor=4),
               backbone=dict(type='UNetEncoder', base_channels=4, depth=2),
               decode_head=dict(type='UNetHead', num_classes=3))
    single = MODELS.build(cfg)
    cfg['decode_head']['loss_decode'] = [dict(type='CrossEntropyLoss')] * 2
    double = MODELS.build(cfg)
    double.load_state_dict(single.state_dict())
    x = torch.randn(2, 3, 8, 8)
    samples = samples_for(torch.randint(0, 3, (2, 8, 8)))
    one = single(x, samples, mode='loss')['decode.loss_ce']
    two = double(x, samples, mode='loss')
    assert list(two) == ['decode.loss_ce']
    torch.testing.assert_close(two['decode.loss_ce'], 2 * one)


def test_size_divisor_is_checked_against_the_backbone_at_build_time():
    with pytest.raises(ValueError,
                       match=r'size_divisor=16, but TorchvisionBackbone'
                       r'\(resnet18\) has stride 32: expected a multiple of '
                       r'32; set model.data_preprocessor.size_divisor=32'):
        MODELS.build(dict(
            type='EncoderDecoder',
            data_preprocessor=dict(type='SegDataPreProcessor',
                                   size_divisor=16),
            backbone=dict(type='TorchvisionBackbone', name='resnet18'),
            decode_head=dict(type='FCNHead', num_classes=2, channels=4)))


def test_decode_head_without_num_classes_is_refused():
    with pytest.raises(ValueError, match='set model.decode_head.num_classes'):
        MODELS.build(dict(type='EncoderDecoder',
                          backbone=dict(type='UNetEncoder'),
                          decode_head=dict(type='UNetHead')))


@pytest.mark.parametrize('config', CONFIGS, ids=lambda p: p.stem)
def test_every_config_builds_and_predicts(config):
    model = init_model(str(config))
    divisor = model.data_preprocessor.pad_size_divisor
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 2 * divisor + 3, 2 * divisor))
    assert logits.shape == (1, model.num_classes, 2 * divisor + 3,
                            2 * divisor)


def test_paper_unet_configs_keep_their_31m_parameters():
    model = init_model(str(REPO / 'configs' / 'unet_camvid.py'))
    # segkit's UNet(num_classes=2) had 31_037_698 parameters; 11 classes
    # add 9 output channels of the 64-channel 1x1 classifier.
    assert sum(p.numel() for p in model.parameters()) == \
        31_037_698 + 9 * (64 + 1)


@pytest.mark.parametrize('upsample', ['deconv', 'bilinear'])
def test_legacy_unet_checkpoint_loads_with_identical_outputs(upsample,
                                                             tmp_path):
    legacy = torch.load(LEGACY_UNET)[upsample]
    model = MODELS.build(dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', size_divisor=4),
        backbone=dict(type='UNetEncoder', base_channels=4, depth=2),
        decode_head=dict(type='UNetHead', num_classes=3,
                         upsample=upsample))).eval()
    assert sum(p.numel() for p in model.parameters()) == legacy['params']
    path = tmp_path / 'legacy.pth'
    torch.save({'state_dict': legacy['state_dict'], 'meta': {}}, path)
    assert load_model_weights(model, str(path)).fits  # segkit's loader
    # Stored logits came from another CPU: oneDNN's kernels round
    # differently by instruction set (1e-6 here); a wrong weight moves them
    # by about 1.
    with torch.no_grad():
        torch.testing.assert_close(model(legacy['inputs']), legacy['logits'],
                                   rtol=0, atol=1e-4)
    fresh = MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='UNetEncoder', base_channels=4, depth=2),
        decode_head=dict(type='UNetHead', num_classes=3,
                         upsample=upsample))).eval()
    load_checkpoint(fresh, str(path), strict=True)  # MMEngine's (load_from)
    with torch.no_grad():
        torch.testing.assert_close(fresh(legacy['inputs']), legacy['logits'],
                                   rtol=0, atol=1e-4)


@pytest.mark.parametrize('name, builder', [
    ('mobilenet_v3_large',
     torchvision.models.segmentation.deeplabv3_mobilenet_v3_large),
    ('resnet50', torchvision.models.segmentation.deeplabv3_resnet50),
])
@pytest.mark.parametrize('old_segkit', [False, True])
def test_torchvision_deeplabv3_state_dict_gives_torchvisions_outputs(
        name, builder, old_segkit, tmp_path):
    torch.manual_seed(0)
    reference = builder(weights=None, weights_backbone=None, num_classes=5,
                        aux_loss=True).eval()
    state = reference.state_dict()
    if old_segkit:  # segkit's DeepLabV3 kept the torchvision model as .model
        state = {f'model.{k}': v for k, v in state.items()}
    path = tmp_path / 'deeplabv3.pth'
    torch.save(state, path)
    model = deeplab(name).eval()
    assert sum(p.numel() for p in model.parameters()) == sum(
        p.numel() for p in reference.parameters())
    assert load_model_weights(model, str(path)).fits
    x = torch.randn(1, 3, 37, 53)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x)['out'])
