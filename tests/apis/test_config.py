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


def _inheriting_config(tmp_path: Path, dataset: str) -> str:
    """A user's config that inherits the Carvana quick config and points
    its training set at an ISBI-like folder."""
    path = tmp_path / 'mine.py'
    configs = Path(QUICK).parent
    path.write_text(
        f"_base_ = '{configs / 'unet_carvana_quick.py'}'\n"
        f'train_dataloader = dict(dataset={dataset})\n')
    return str(path)


def test_a_dataset_key_the_new_type_does_not_take_is_one_line(
        tmp_path, isbi_root):
    """The issue's first try: the inherited split='train' reached
    FolderSegDataset.__init__ as a TypeError under a long traceback."""
    path = _inheriting_config(
        tmp_path, f"dict(type='FolderSegDataset', data_root='{isbi_root}', "
        "metainfo=dict(classes=('bg', 'fg')))")
    with pytest.raises(ConfigKeyError) as error:
        load_config(path, check_data=False)
    message = str(error.value)
    assert '\n' not in message
    assert message.startswith(
        f"{path}: train_dataloader.dataset has split='train', which "
        "FolderSegDataset does not take; did you mean 'split_file'? it takes "
        'data_root, metainfo, label_map, mat_key, ignore_index, ')
    assert message.endswith('dataset=dict(_delete_=True, type=..., ...)')


def test_a_replaced_dataset_and_a_wrapped_one_are_checked(tmp_path,
                                                          isbi_root):
    folder = (f"type='FolderSegDataset', data_root='{isbi_root}', "
              "metainfo=dict(classes=('bg', 'fg'))")
    cfg = load_config(_inheriting_config(
        tmp_path, f'dict(_delete_=True, {folder})'), check_data=False)
    assert 'split' not in cfg.train_dataloader.dataset
    with pytest.raises(ConfigKeyError, match=r'train_dataloader\.dataset\.'
                       r"dataset has lable_map=\{0: 1\}, which "
                       r"FolderSegDataset does not take; did you mean "
                       r"'label_map'\?"):
        load_config(_inheriting_config(
            tmp_path, "dict(_delete_=True, type='RepeatDataset', times=2, "
            f'dataset=dict({folder}, lable_map={{0: 1}}))'),
            check_data=False)
