"""Data roots settled before anything is built: the config's missing default
falls back to the bundled sample, a root the user chose must exist."""
import pytest
from mmengine.config import Config

from segkit.apis.data_roots import settle_data_root
from segkit.utils import MissingPathError

LAYOUT = 'train/ and labels/'


def config(root: str, **source) -> Config:
    dataset = dict(type='FolderSegDataset', data_root=root)
    return Config(dict(
        data_root=root,
        data_source=dict(env='TOY_ROOT', default='../shared/toy',
                         sample='data/toy_sample', layout=LAYOUT, **source),
        train_dataloader=dict(dataset=dict(dataset, split_file='all.txt')),
        val_dataloader=dict(dataset=dict(dataset))))


@pytest.fixture
def clone(tmp_path, monkeypatch):
    """A repository with its sample, without ../shared beside it."""
    (tmp_path / 'repo' / 'data' / 'toy_sample').mkdir(parents=True)
    monkeypatch.chdir(tmp_path / 'repo')
    monkeypatch.delenv('TOY_ROOT', raising=False)
    return tmp_path / 'repo'


def test_missing_default_falls_back_to_the_sample_and_says_so(
        clone, warnings_logged):
    cfg = config('../shared/toy', sample_overrides={
        'train_dataloader.dataset.split_file': 'sample_split.txt'})
    with warnings_logged() as warnings:
        settle_data_root(cfg, 'toy.py')
    assert cfg.data_root == 'data/toy_sample'
    for loader in ('train_dataloader', 'val_dataloader'):
        assert cfg[loader].dataset.data_root == 'data/toy_sample'
    assert cfg.train_dataloader.dataset.split_file == 'sample_split.txt'
    assert warnings == [
        'data_root ../shared/toy (the default of toy.py) does not exist: '
        'using the bundled sample data/toy_sample, enough to try the tools, '
        'not to learn the task; for the full set, set TOY_ROOT=PATH or pass '
        '--cfg-options data_root=PATH']


def test_existing_roots_are_left_alone(clone, warnings_logged):
    cfg = config('data/toy_sample')
    with warnings_logged() as warnings:
        settle_data_root(cfg, 'toy.py')
    assert cfg.data_root == 'data/toy_sample' and not warnings


def message(cfg: Config, option_root=None) -> str:
    with pytest.raises(MissingPathError) as info:
        settle_data_root(cfg, 'toy.py', option_root)
    return str(info.value)


def test_root_from_the_environment_must_exist(clone, monkeypatch):
    monkeypatch.setenv('TOY_ROOT', '/nope')
    assert message(config('/nope')) == (
        f'TOY_ROOT=/nope does not exist: expected a folder with {LAYOUT}; '
        'point it at your copy, or at the bundled sample: '
        'TOY_ROOT=data/toy_sample')


def test_root_from_the_option_must_exist(clone):
    assert message(config('/nope'), option_root='/nope') == (
        f'--cfg-options data_root=/nope does not exist: expected a folder '
        f'with {LAYOUT}; point it at your copy, or at the bundled sample: '
        'data_root=data/toy_sample')


def test_root_written_in_a_config_must_exist(clone):
    assert message(config('/elsewhere')) == (
        f"data_root '/elsewhere' (from toy.py) does not exist: expected a "
        f'folder with {LAYOUT}; set TOY_ROOT=PATH or pass --cfg-options '
        'data_root=PATH')
    one_loader = config('data/toy_sample')
    one_loader.val_dataloader.dataset.data_root = '/other'
    assert message(one_loader) == (
        "val_dataloader.dataset.data_root '/other' (from toy.py) does not "
        f'exist: expected a folder with {LAYOUT}')


def test_missing_default_without_its_sample_is_an_error(clone):
    (clone / 'data' / 'toy_sample').rmdir()
    assert message(config('../shared/toy')).startswith(
        "data_root '../shared/toy' (from toy.py) does not exist")
