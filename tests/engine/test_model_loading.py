"""Checkpoints into models: mismatch reports, partial loads, and the
Runner's load_from checked before it is loaded."""
import os.path as osp

import pytest
import torch
from mmengine.runner import save_checkpoint

from segkit.apis import init_model
from segkit.engine import load_model_weights
from segkit.engine.hooks import CheckpointFitHook
from segkit.utils import MAX_LISTED, CheckpointMismatchError
from segkit.registry import HOOKS, MODELS

QUICK = osp.join(osp.dirname(__file__), '..', '..', 'configs',
                 'unet_camvid_quick.py')


def unet(num_classes: int = 11, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return MODELS.build(dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', size_divisor=4),
        backbone=dict(type='UNetEncoder', base_channels=4, depth=2),
        decode_head=dict(type='UNetHead', upsample='deconv',
                         num_classes=num_classes)))


def save(model: torch.nn.Module, path) -> str:
    save_checkpoint({'state_dict': model.state_dict(),
                     'meta': {'dataset_meta': {'classes': ('a', 'b')}}},
                    str(path))
    return str(path)


@pytest.fixture
def unet11(tmp_path) -> str:
    return save(unet(11), tmp_path / 'unet11.pth')


def test_matching_checkpoint_loads_everything(unet11):
    model = unet(11, seed=1)
    report = load_model_weights(model, unet11)
    saved = torch.load(unet11)['state_dict']
    assert report.fits and report.meta['dataset_meta']['classes'] == ('a', 'b')
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())


def test_other_num_classes_lists_the_head(unet11):
    model = unet(2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointMismatchError) as err:
        load_model_weights(model, unet11)
    message = str(err.value)
    assert isinstance(err.value, ValueError)
    total = len(model.state_dict())
    assert f'fits {total - 2} of the {total} tensors of EncoderDecoder' in message
    assert '2 size mismatch(es) (key: checkpoint shape -> model shape)' \
        in message
    assert 'decode_head.conv_seg.weight: (11, 4, 1, 1) -> (2, 4, 1, 1)' in message
    assert 'decode_head.conv_seg.bias: (11,) -> (2,)' in message
    assert 'missing' not in message and 'unexpected' not in message
    assert unet11 in message and 'strict=False' in message
    # strict: nothing was loaded
    assert all(torch.equal(value, before[key])
               for key, value in model.state_dict().items())


def test_other_architecture_lists_missing_and_unexpected(unet11):
    deeplab = init_model(osp.join(osp.dirname(QUICK),
                                  'deeplabv3_mbv3_camvid_quick.py'))
    with pytest.raises(CheckpointMismatchError) as err:
        load_model_weights(deeplab, unet11)
    message = str(err.value)
    ckpt_keys, own_keys = set(unet(11).state_dict()), set(deeplab.state_dict())
    # Both have a decode_head.conv_seg for 11 classes; only its bias fits.
    assert ckpt_keys & own_keys == {'decode_head.conv_seg.weight',
                                    'decode_head.conv_seg.bias'}
    n_ckpt, n_model = len(ckpt_keys), len(own_keys)
    assert f'fits 1 of the {n_model} tensors of EncoderDecoder\n' in message
    assert ('decode_head.conv_seg.weight: (11, 4, 1, 1) -> (11, 256, 1, 1)'
            in message)
    assert f'{n_model - 2} missing key(s)' in message
    assert f'{n_ckpt - 2} unexpected key(s)' in message
    assert f'    {next(iter(unet(11).state_dict()))}\n' in message
    assert f'    {next(iter(deeplab.state_dict()))}\n' in message
    assert f'... and {n_model - 2 - MAX_LISTED} more' in message
    assert f'... and {n_ckpt - 2 - MAX_LISTED} more' in message
    assert len(message.splitlines()) <= 6 + 2 * (MAX_LISTED + 2)


def test_nothing_in_common_asks_about_the_architecture(unet11):
    with pytest.raises(CheckpointMismatchError,
                       match=r'fits 0 of the 2 tensors of Linear \(none: is '
                       r'it a checkpoint of another architecture\?\)'):
        load_model_weights(torch.nn.Linear(2, 2), unet11)


def test_non_strict_loads_what_fits_and_logs_the_rest(unet11, tmp_path,
                                                     warnings_logged):
    model = unet(2, seed=1)
    head_before = model.decode_head.conv_seg.weight.detach().clone()
    with warnings_logged() as records:
        report = load_model_weights(model, unet11, strict=False)
    saved = torch.load(unet11)['state_dict']
    own = model.state_dict()
    assert report.loaded and set(report.loaded) == set(own) - {
        'decode_head.conv_seg.weight', 'decode_head.conv_seg.bias'}
    assert all(torch.equal(own[k], saved[k]) for k in report.loaded)
    assert torch.equal(model.decode_head.conv_seg.weight, head_before)  # skipped, kept
    assert [key for key, _, _ in report.mismatched] == [
        'decode_head.conv_seg.weight', 'decode_head.conv_seg.bias']
    [warning] = records
    assert 'decode_head.conv_seg.weight: (11, 4, 1, 1) -> (2, 4, 1, 1)' in warning
    assert 'Only the tensors that fit were loaded' in warning


def test_ddp_prefix_is_removed(tmp_path):
    model = unet(11)
    path = str(tmp_path / 'ddp.pth')
    torch.save({'state_dict': {f'module.{k}': v
                               for k, v in model.state_dict().items()}}, path)
    assert load_model_weights(unet(11, seed=1), path).fits


def test_init_model_reports_a_num_classes_mismatch(unet11):
    with pytest.raises(CheckpointMismatchError,
                       match=r'conv_seg.bias: \(11,\) -> \(2,\)'):
        init_model(QUICK, unet11, cfg_options={
            'model.backbone.base_channels': 4, 'model.backbone.depth': 2,
            'model.decode_head.num_classes': 2})


# --- the Runner's load_from ------------------------------------------------


def small_checkpoint(tmp_path, out_channels: int) -> str:
    """A checkpoint for the engine tests' TinySegModel (conv 3->2 + BN),
    with ``out_channels`` instead of 2."""
    conv = torch.nn.Conv2d(3, out_channels, 1)
    bn = torch.nn.BatchNorm2d(out_channels)
    state = {**{f'conv.{k}': v for k, v in conv.state_dict().items()},
             **{f'bn.{k}': v for k, v in bn.state_dict().items()}}
    path = str(tmp_path / f'tiny{out_channels}.pth')
    torch.save({'state_dict': state}, path)
    return path


def test_hook_is_registered():
    assert HOOKS.get('CheckpointFitHook') is CheckpointFitHook


def test_hook_stops_a_run_whose_load_from_does_not_fit(tmp_path,
                                                       make_runner):
    runner = make_runner(load_from=small_checkpoint(tmp_path, 5),
                         custom_hooks=[dict(type='CheckpointFitHook')])
    with pytest.raises(CheckpointMismatchError,
                       match=r'conv.weight: \(5, 3, 1, 1\) -> '
                       r'\(2, 3, 1, 1\)'):
        runner.train()
    assert runner.iter == 0


def test_non_strict_hook_lets_a_fine_tuning_run_go_on(tmp_path, make_runner):
    runner = make_runner(
        load_from=small_checkpoint(tmp_path, 5),
        custom_hooks=[dict(type='CheckpointFitHook', strict=False)],
        train_cfg=dict(by_epoch=False, max_iters=1, val_interval=10))
    runner.train()
    assert runner.iter == 1


def test_hook_passes_a_fitting_checkpoint(tmp_path, make_runner):
    runner = make_runner(load_from=small_checkpoint(tmp_path, 2),
                         custom_hooks=[dict(type='CheckpointFitHook')],
                         train_cfg=dict(by_epoch=False, max_iters=1,
                                        val_interval=10))
    runner.train()
    assert runner.iter == 1
