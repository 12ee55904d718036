"""Config loading shared by the tools: merge, validate, place the work dir."""
import argparse
import difflib
import logging
import os
import os.path as osp
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger, print_log

from segkit.utils import ConfigValueError, MissingPathError
from .cli import add_debug_arg, add_override_arg
from .config_keys import (ConfigKeyError, check_dataset_keys,
                          check_override_key, check_override_values)
from .data_roots import DATALOADERS, move_data_root, settle_data_root
from .run_length import (describe_scaling, drop_time_budget,
                         scale_run_length)

__all__ = ['ConfigKeyError', 'add_runner_args', 'apply_overrides',
           'info_silenced', 'load_config', 'parse_runner_args',
           'read_config']


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """The options of every tool that runs a config through a Runner:
    ``--work-dir``, ``--cfg-options``, ``--launcher``, ``--debug`` (and
    the ``--local_rank`` that older launchers pass)."""
    parser.add_argument('--work-dir', help='where logs (and checkpoints) go '
                        '(default: work_dirs/<config name>)')
    add_override_arg(parser, 'train_cfg.max_iters=100 data_root=/data/camvid')
    add_debug_arg(parser)
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
                launcher: str = 'none',
                check_data: bool = True) -> Config:
    """Read ``path``, apply ``--cfg-options`` and settle the work dir.

    Overrides are checked before they are merged: MMEngine would silently add
    a misspelt key, and the run would go on without the change the user asked
    for (:mod:`segkit.apis.config_keys`). ``data_root=PATH`` moves every
    dataloader whose dataset used the config's ``data_root`` (a variable,
    substituted when the file was read); with ``check_data`` a missing root
    is an error, or, for the config's default, the bundled sample
    (:mod:`segkit.apis.data_roots`). ``train_cfg.max_iters=N`` scales the
    schedule with it, and fixes the length of a time-budgeted config
    (:mod:`segkit.apis.run_length`); the other overrides are merged after,
    so theirs are the final values. Then every dataloader's dataset keys,
    the file's own included, are checked against what its type takes.
    The work dir defaults to ``work_dirs/<config name>``. Where CUDA is
    available, dataloaders pin memory and the model's data preprocessor
    copies batches to the GPU without blocking, unless the config says
    otherwise (the copy then overlaps the host's work; elsewhere torch would
    only warn that it cannot pin).
    """
    cfg = read_config(path)
    cuda = torch.cuda.is_available()
    for name in DATALOADERS:
        if cfg.get(name) is not None:
            cfg[name].setdefault('pin_memory', cuda)
    preprocessor = cfg.get('model', {}).get('data_preprocessor')
    if isinstance(preprocessor, dict):
        preprocessor.setdefault('non_blocking', cuda)
    apply_overrides(cfg, cfg_options, path, check_data)
    check_dataset_keys(cfg, path)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs',
                                osp.splitext(osp.basename(path))[0])
    return cfg


def apply_overrides(cfg: Config, cfg_options: Optional[Dict[str, Any]],
                    path: str, check_data: bool = False) -> None:
    """Check and merge ``--cfg-options`` into ``cfg``, in place.

    Args:
        cfg: A loaded config.
        cfg_options: ``{dotted key: value}``; ``data_root`` and
            ``train_cfg.max_iters`` move and scale as :func:`load_config`
            says.
        path: The config file, for messages.
        check_data: Settle the data roots (:func:`settle_data_root`).

    Raises:
        ConfigKeyError: a key nothing at its place accepts.
        ConfigValueError: a value refused before any component is built.
        MissingPathError: with ``check_data``, a data root set by the user
            that does not exist.
    """
    cfg_options = dict(cfg_options or {})
    new_root = cfg_options.pop('data_root', None)
    dataclass_keys = [
        schema for key, value in cfg_options.items()
        for schema in check_override_key(cfg, key, path, value)]
    notes = []
    max_iters = cfg_options.pop('train_cfg.max_iters', None)
    if max_iters is not None:
        if (not isinstance(max_iters, int) or isinstance(max_iters, bool)
                or max_iters < 1):
            raise ConfigValueError(f'--cfg-options train_cfg.max_iters='
                                   f'{max_iters}: expected an int >= 1')
        old = cfg.train_cfg.get('max_iters')
        changes = scale_run_length(cfg, max_iters, cfg_options)
        if changes:
            notes.append(describe_scaling(old, max_iters, changes))
        if 'train_cfg.minutes' not in cfg_options:
            notes.append(drop_time_budget(cfg))
    if new_root is not None:
        move_data_root(cfg, new_root)
    cfg.merge_from_dict(cfg_options)
    check_override_values(cfg, dataclass_keys, path)
    if check_data:
        settle_data_root(cfg, path, new_root)
    for note in filter(None, notes):
        print_log(note, logger='current')


def read_config(path: str) -> Config:
    """``Config.fromfile``, with the user's mistakes as user errors: a
    missing file, or a file that does not evaluate (a syntax error, an
    unknown name, a missing ``_base_``) names the file and the cause.

    Raises:
        MissingPathError: ``path`` is not a file.
        ConfigValueError: the file does not evaluate.
    """
    if not osp.isfile(path):
        folder = osp.dirname(path) or '.'
        names = sorted(name for name in os.listdir(folder)
                       if name.endswith('.py')) if osp.isdir(folder) else []
        close = difflib.get_close_matches(osp.basename(path), names, n=1)
        hint = (f'did you mean {osp.join(folder, close[0])}?' if close else
                'expected a Python config such as configs/unet_camvid.py')
        raise MissingPathError(f'config file not found: {path}; {hint}')
    # MMEngine logs each environment variable it substitutes at INFO, on
    # the console before the run has a log file: the summary names the data.
    with info_silenced():
        try:
            return Config.fromfile(path)
        except Exception as error:  # evaluating the user's own Python file
            raise ConfigValueError(
                f'cannot read config {path}: {type(error).__name__}: '
                f'{error}') from error


@contextmanager
def info_silenced() -> Iterator[None]:
    """Hold the current MMEngine logger at WARNING or above inside the
    block, and restore its level after."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)
