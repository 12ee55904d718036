"""Where a config's data is, settled before anything is built.

A dataset config declares where its data comes from::

    data_root = '{{$CAMVID_ROOT:../shared/data/camvid}}'
    data_source = dict(env='CAMVID_ROOT', default='../shared/data/camvid',
                       sample='data/camvid_sample', layout='train/, ...')

:func:`settle_data_root` then checks every dataloader's ``data_root``. The
config's default, when missing (a fresh clone without ``../shared``), gives
way to the bundled sample, with one log line saying so and how to point at
the full set. A root the user chose (the environment variable,
``--cfg-options data_root=``, or a path written in a config) that does not
exist is always an error that names what set it, the expected layout, and
the bundled sample; it never falls back silently.
"""
import logging
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.logging import print_log

from segkit.utils import MissingPathError

DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def move_data_root(cfg: Config, new_root: str) -> None:
    """Point ``data_root`` and every dataset that used it at ``new_root``."""
    old_root = cfg.get('data_root')
    for name in DATALOADERS:
        dataset = cfg.get(name, {}).get('dataset', {})
        if 'data_root' in dataset and dataset.data_root in (old_root, None):
            dataset.data_root = new_root
    cfg.data_root = new_root


def settle_data_root(cfg: Config, path: str,
                     option_root: Optional[str] = None) -> None:
    """Check the data roots of ``cfg``'s dataloaders; fall back to the
    bundled sample where only the config's default is missing.

    Args:
        cfg: The merged config; changed in place on a fallback.
        path: The config file, for messages.
        option_root: The ``--cfg-options data_root=`` value, if given.

    Raises:
        MissingPathError: a root that does not exist and is not the
            default, naming the variable, option or key that set it.
    """
    source = cfg.get('data_source') or {}
    env = source.get('env')
    for name in DATALOADERS:
        root = cfg.get(name, {}).get('dataset', {}).get('data_root')
        if root is None or osp.isdir(root):
            continue
        if root != cfg.get('data_root'):
            raise MissingPathError(
                f'{name}.dataset.data_root {root!r} (from {path}) does not '
                f'exist: {_expected(source)}')
        if option_root is not None:
            raise MissingPathError(
                f'--cfg-options data_root={root} does not exist: '
                f'{_expected(source)}' + _sample_hint(source, 'data_root'))
        if env and os.environ.get(env) == root:
            raise MissingPathError(
                f'{env}={root} does not exist: {_expected(source)}' +
                _sample_hint(source, env))
        if root != source.get('default') or not osp.isdir(
                source.get('sample', '')):
            raise MissingPathError(
                f'data_root {root!r} (from {path}) does not exist: '
                f'{_expected(source)}; {_how_to_set(source)}')
        _use_sample(cfg, source, path)


def _expected(source: dict) -> str:
    layout = source.get('layout')
    return (f'expected a folder with {layout}' if layout else
            "expected the dataset's folder")


def _how_to_set(source: dict) -> str:
    env = source.get('env')
    return (f'set {env}=PATH or pass' if env else
            'pass') + ' --cfg-options data_root=PATH'


def _sample_hint(source: dict, setting: str) -> str:
    sample = source.get('sample')
    return (f'; point it at your copy, or at the bundled sample: '
            f'{setting}={sample}' if sample else '')


def _use_sample(cfg: Config, source: dict, path: str) -> None:
    """Move every dataset to the bundled sample and apply the overrides
    the sample needs (``sample_overrides``, e.g. its own split files)."""
    default, sample = source['default'], source['sample']
    move_data_root(cfg, sample)
    cfg.merge_from_dict(dict(source.get('sample_overrides') or {}))
    print_log(
        f'data_root {default} (the default of {path}) does not exist: using '
        f'the bundled sample {sample}, enough to try the tools, not to '
        f'learn the task; for the full set, {_how_to_set(source)}',
        logger='current', level=logging.WARNING)
