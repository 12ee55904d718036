from pathlib import Path

import pytest
import torch

from segkit.apis import ConfigKeyError, load_config
from segkit.utils import ConfigValueError

QUICK = str(Path(__file__).parents[2] / 'configs' / 'unet_camvid_quick.py')


def test_work_dir_defaults_to_config_name():
    cfg = load_config(QUICK)
    assert cfg.work_dir == 'work_dirs/unet_camvid_quick'
    assert load_config(QUICK, work_dir='/tmp/x').work_dir == '/tmp/x'


def test_override_of_an_existing_key_is_merged():
    cfg = load_config(QUICK, {'train_cfg.max_iters': 7,
                              'train_dataloader.dataset.pipeline.2.crop_size':
                              (64, 64)})
    assert cfg.train_cfg.max_iters == 7
    assert cfg.train_dataloader.dataset.pipeline[2].crop_size == (64, 64)


def test_misspelt_key_is_refused_with_a_suggestion():
    with pytest.raises(ConfigKeyError,
                       match=r"train_cfgg.max_iters: .*did you mean "
                       r"'train_cfg'"):
        load_config(QUICK, {'train_cfgg.max_iters': 7})


def test_unknown_nested_key_names_where_it_was_looked_for():
    with pytest.raises(ConfigKeyError, match=r"optim_wrapper.optimizer.betas "
                       r"of .* is \(0.9, 0.999\) by default, not a dict"):
        load_config(QUICK, {'optim_wrapper.optimizer.betas.x': 1})


def test_constructor_argument_left_at_default_may_be_set():
    cfg = load_config(QUICK, {'model.data_preprocessor.channels_last': True})
    assert cfg.model.data_preprocessor.channels_last is True


def test_test_cfg_scales_are_a_checked_key():
    cfg = load_config(QUICK, {'model.test_cfg.scales': [0.75, 1, 1.25]})
    assert cfg.model.test_cfg.scales == [0.75, 1, 1.25]
    with pytest.raises(ConfigValueError, match=r'^--cfg-options '
                       r'model.test_cfg of .*unet_camvid_quick.py: test_cfg '
                       r'scales=\[0.75, 0\]: expected a non-empty list of '
                       r'positive resize factors'):
        load_config(QUICK, {'model.test_cfg.scales': [0.75, 0]})
    with pytest.raises(ConfigKeyError, match="did you mean "
                       "'model.test_cfg.scales'"):
        load_config(QUICK, {'model.test_cfg.scale': [0.75]})


def test_data_root_moves_every_dataloader(tmp_path):
    cfg = load_config(QUICK, {'data_root': str(tmp_path)})
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[name].dataset.data_root == str(tmp_path)


def test_missing_config_file_is_named():
    with pytest.raises(FileNotFoundError, match='nope.py'):
        load_config('configs/nope.py')


@pytest.mark.parametrize('cuda', [True, False])
def test_dataloaders_pin_memory_only_with_cuda(monkeypatch, cuda):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda)
    cfg = load_config(QUICK)
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[name].pin_memory is cuda
    assert cfg.model.data_preprocessor.non_blocking is cuda


def test_non_blocking_the_user_sets_is_kept(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = load_config(QUICK, {'model.data_preprocessor.non_blocking': False})
    assert cfg.model.data_preprocessor.non_blocking is False


def test_pin_memory_the_user_sets_is_kept(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = load_config(QUICK, {'val_dataloader.pin_memory': True})
    assert cfg.val_dataloader.pin_memory is True
    assert cfg.train_dataloader.pin_memory is False
