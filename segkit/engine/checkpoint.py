"""Weights-only checkpoint loading that still reads MMEngine's checkpoints.

:func:`install_checkpoint_safety` is the one switch; the tools and
:func:`segkit.apis.init_model` call it. Why and how: ``docs/architecture.md``
(Checkpoints).
"""
import contextlib
import functools
import os
import os.path as osp
import pickle
import zipfile
from collections.abc import Callable, Iterator
from typing import Any, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader
from numpy._core.multiarray import _reconstruct, scalar

from segkit.utils import DataError, SegkitUserError

# HistoryBuffer registers these statistics on itself; a pickled buffer refers
# to them by name (see _history_buffer_statistic).
_HISTORY_BUFFER_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})

_FORCE_WEIGHTS_ONLY = 'TORCH_FORCE_WEIGHTS_ONLY_LOAD'
# Set on the scheme loaders install_checkpoint_safety has wrapped.
_SAFE_MARK = '_segkit_weights_only'


def _history_buffer_statistic(owner: Any, name: str) -> Any:
    """Stand in for ``builtins.getattr`` while unpickling.

    torch.save's pickle protocol 2 stores the ``HistoryBuffer.min`` /
    ``max`` / ``current`` / ``mean`` references inside every pickled
    HistoryBuffer as ``getattr(HistoryBuffer, 'min')``. The real getattr
    would let a checkpoint fetch any attribute of any allow-listed object, and
    ``HistoryBuffer.__setstate__`` installs what it gets into the class-wide
    table the LogProcessor later calls, so only these lookups pass.
    """
    if owner is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(owner, name)
    raise pickle.UnpicklingError(
        f'refused getattr({owner!r}, {name!r}): a checkpoint may only look '
        f'up HistoryBuffer.{{{",".join(sorted(_HISTORY_BUFFER_STATISTICS))}}}')


#: Exactly what real MMEngine 0.10.7 checkpoints (iter-based loop, val
#: evaluator with ``save_best``, LR schedulers, SGD/AdamW) need beyond torch's
#: own weights-only set: the globals ``get_unsafe_globals_in_checkpoint``
#: lists, plus the numpy dtype classes its static scan cannot see because
#: they are only built while unpickling.
SAFE_CHECKPOINT_GLOBALS = (
    HistoryBuffer,  # message_hub.log_scalars
    (_history_buffer_statistic, 'builtins.getattr'),  # HistoryBuffer state
    _reconstruct,  # HistoryBuffer's history arrays
    np.ndarray,
    scalar,  # numpy scalars in runtime_info: 'eta', 'best_score'
    np.dtype,
    np.dtypes.Float64DType,  # log history, 'eta', float64 metrics
    np.dtypes.Int64DType,  # count history
    np.dtypes.Float32DType,  # float32 metrics (mmseg-style IoU) as best_score
)


class UnsafeCheckpointError(SegkitUserError, pickle.UnpicklingError):
    """A checkpoint pickles something outside the allow-list.

    The weights-only unpickler stops at the first disallowed global, so
    nothing outside the allow-list ran.
    """


def _unsafe_globals(filename: str) -> list[str]:
    """The disallowed globals a local checkpoint names, read without
    unpickling; empty for URLs and for files torch cannot scan."""
    path = osp.expanduser(filename)
    if not osp.isfile(path):
        return []
    try:
        return sorted(
            torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except (ValueError, RuntimeError):  # legacy (non-zip) or damaged file
        return []


def _not_a_checkpoint(filename: str) -> bool:
    """Whether ``filename`` is a local file that ``torch.save`` cannot
    have written: neither a zip archive nor a (legacy) pickle."""
    path = osp.expanduser(filename)
    if not osp.isfile(path) or zipfile.is_zipfile(path):
        return False
    with open(path, 'rb') as f:
        return f.read(1) != pickle.PROTO


def _refusal(filename: str, error: pickle.UnpicklingError
             ) -> Union[DataError, UnsafeCheckpointError]:
    """Name the file and, where a static scan finds them, the globals;
    or say that the file is no checkpoint at all."""
    if _not_a_checkpoint(filename):
        return DataError(
            f'{filename} is not a checkpoint: torch.save writes a zip '
            'archive, and this file is none (expected a .pth file that '
            'tools/train.py wrote)')
    offending = _unsafe_globals(filename)
    if offending:
        reason = (f'it pickles {", ".join(offending)}, which is not in '
                  'segkit.engine.checkpoint.SAFE_CHECKPOINT_GLOBALS')
    else:
        reason = f'the weights-only unpickler rejected it: {error}'
    return UnsafeCheckpointError(
        f'Refused to load checkpoint {filename}: {reason}. Unpickling it '
        'could run arbitrary code, so nothing was loaded. Re-save it with '
        'only tensors and plain containers, or, if you trust it and the type '
        'is plain data, add that type to SAFE_CHECKPOINT_GLOBALS.')


@contextlib.contextmanager
def _weights_only_forced() -> Iterator[None]:
    """Make ``torch.load`` weights-only even where a callee passes
    ``weights_only=False`` (torch's own switch for callers we do not own)."""
    previous = os.environ.get(_FORCE_WEIGHTS_ONLY)
    os.environ[_FORCE_WEIGHTS_ONLY] = '1'
    try:
        yield
    finally:
        if previous is None:
            del os.environ[_FORCE_WEIGHTS_ONLY]
        else:
            os.environ[_FORCE_WEIGHTS_ONLY] = previous


def _refusing_unsafe(loader: Callable) -> Callable:
    """Wrap one ``CheckpointLoader`` scheme loader (keeps its ``__name__``,
    which MMEngine prints as the backend name)."""

    @functools.wraps(loader)
    def load(filename: str, map_location: Any = None) -> Any:
        with _weights_only_forced():
            try:
                return loader(filename, map_location)
            except pickle.UnpicklingError as error:
                raise _refusal(filename, error) from error

    return load


def install_checkpoint_safety() -> None:
    """Make every checkpoint load in this process weights-only and readable.

    Allow-lists :data:`SAFE_CHECKPOINT_GLOBALS` for ``torch.load`` and wraps
    each of MMEngine's ``CheckpointLoader`` schemes so that loads are
    weights-only (URLs too) and a refusal names the file and the offending
    type. Every MMEngine load path goes through ``CheckpointLoader``:
    ``resume``, ``load_from``, ``Runner.load_checkpoint`` and
    ``init_cfg=dict(type='Pretrained')``. Calling it again changes nothing.
    """
    torch.serialization.add_safe_globals(list(SAFE_CHECKPOINT_GLOBALS))
    # ``_schemes`` is private, but it is the only way to reach the loaders
    # MMEngine registered; ``register_scheme(force=True)`` is public API.
    # tests/engine/test_mmengine_contract.py fails if it changes.
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if not getattr(loader, _SAFE_MARK, False):
            safe = _refusing_unsafe(loader)
            setattr(safe, _SAFE_MARK, True)
            CheckpointLoader.register_scheme(prefix, safe, force=True)
