"""Config loading shared by the tools: merge, validate, place the work dir."""
import argparse
import difflib
import os
import os.path as osp
from typing import Any, Dict, Optional

import torch
from mmengine.config import Config, DictAction

DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


class ConfigKeyError(KeyError):
    """An override names a key the config does not have."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """The options of every tool that runs a config through a Runner:
    ``--work-dir``, ``--cfg-options``, ``--launcher`` (and the
    ``--local_rank`` that older launchers pass)."""
    parser.add_argument('--work-dir', help='where logs (and checkpoints) go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, default={},
        help='override config keys, e.g. train_cfg.max_iters=100 '
        'data_root=/data/camvid')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, exporting ``LOCAL_RANK`` for launchers that pass it as an
    argument instead of in the environment."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_config(path: str,
                cfg_options: Optional[Dict[str, Any]] = None,
                work_dir: Optional[str] = None,
                launcher: str = 'none') -> Config:
    """Read ``path``, apply ``--cfg-options`` and settle the work dir.

    Overrides are checked before they are merged: MMEngine would silently add
    a misspelt key, and the run would go on without the change the user asked
    for. ``data_root=PATH`` moves every dataloader whose dataset used the
    config's ``data_root`` (a variable, substituted when the file was read).
    The work dir defaults to ``work_dirs/<config name>``. Dataloaders that
    do not say otherwise pin memory where CUDA is available (faster copies
    to the GPU); elsewhere torch would only warn that it cannot.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    for name in DATALOADERS:
        if cfg.get(name) is not None:
            cfg[name].setdefault('pin_memory', torch.cuda.is_available())
    cfg_options = dict(cfg_options or {})
    new_root = cfg_options.pop('data_root', None)
    for key in cfg_options:
        check_override_key(cfg, key, path)
    if new_root is not None:
        move_data_root(cfg, new_root)
    cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs',
                                osp.splitext(osp.basename(path))[0])
    return cfg


def check_override_key(cfg: Config, dotted_key: str, path: str) -> None:
    """Raise :class:`ConfigKeyError` unless ``dotted_key`` names a real key.

    Every level must exist, except the last one inside a component config
    (a dict with ``type``): that is a constructor argument the config may
    leave at its default, and the registry rejects a wrong one by name.
    """
    node: Any = cfg._cfg_dict.to_dict()
    parts = dotted_key.split('.')
    for depth, part in enumerate(parts):
        where = '.'.join(parts[:depth]) or 'the top level'
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
            continue
        if isinstance(node, dict) and part in node:
            node = node[part]
            continue
        is_leaf = depth == len(parts) - 1
        if is_leaf and isinstance(node, dict) and 'type' in node:
            return
        options = list(node) if isinstance(node, dict) else []
        hint = difflib.get_close_matches(part, options, n=1)
        raise ConfigKeyError(
            f"--cfg-options key '{dotted_key}': {where} of {path} has no "
            f"key '{part}'"
            + (f"; did you mean '{hint[0]}'?" if hint else
               f'; expected one of {sorted(map(str, options))}'))


def move_data_root(cfg: Config, new_root: str) -> None:
    """Point ``data_root`` and every dataset that used it at ``new_root``."""
    old_root = cfg.get('data_root')
    for name in DATALOADERS:
        dataset = cfg.get(name, {}).get('dataset', {})
        if 'data_root' in dataset and dataset.data_root in (old_root, None):
            dataset.data_root = new_root
    cfg.data_root = new_root
