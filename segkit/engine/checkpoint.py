"""Checkpoint safety: refuse code-carrying pickles, never leave a torn file.

Loading
    torch >= 2.6 unpickles with ``weights_only=True``, which rejects the few
    non-tensor objects MMEngine itself pickles into every checkpoint. Those
    (found by saving real MMEngine runs, listing
    ``torch.serialization.get_unsafe_globals_in_checkpoint`` and loading them
    back) are allow-listed process-wide, once, when this module is imported
    -- and ``segkit``'s ``__init__`` imports it, so the list is in force
    whenever any segkit module is. Every MMEngine load path (``resume``, ``load_from``,
    ``Runner.load_checkpoint`` in tools/test.py, ``init_cfg=dict(
    type='Pretrained')``, ``mmengine.runner.load_checkpoint``) goes through
    ``CheckpointLoader``; its scheme loaders are re-registered here so that a
    refusal names the checkpoint and the offending global, and so that
    weights-only also holds for URLs, which MMEngine hands to
    ``torch.hub.load_state_dict_from_url`` (that one defaults to
    ``weights_only=False``).

Saving
    ``AtomicLocalBackend`` (file backend ``'segkit_atomic_local'``) writes to
    a temporary file in the target's directory, fsyncs it, ``os.replace``-s it
    over the target and fsyncs the directory. ``AtomicCheckpointHook`` uses it
    by default and also writes ``last_checkpoint`` atomically, which
    MMEngine's ``CheckpointHook`` does with a bare ``open(..., 'w')``.
"""
import contextlib
import functools
import os
import os.path as osp
import pickle
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Optional, Union

import mmengine
import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader
from numpy._core.multiarray import _reconstruct, scalar

from segkit.registry import HOOKS

ATOMIC_LOCAL_BACKEND = 'segkit_atomic_local'

# HistoryBuffer registers these statistics on itself; a pickled buffer refers
# to them by name (see _history_buffer_statistic).
_HISTORY_BUFFER_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})

_FORCE_WEIGHTS_ONLY = 'TORCH_FORCE_WEIGHTS_ONLY_LOAD'


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
torch.serialization.add_safe_globals(list(SAFE_CHECKPOINT_GLOBALS))


class UnsafeCheckpointError(pickle.UnpicklingError):
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


def _refusal(filename: str,
             error: pickle.UnpicklingError) -> UnsafeCheckpointError:
    """Name the file and, where a static scan finds them, the globals."""
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


def _install_safe_loaders() -> None:
    # ``_schemes`` is private, but it is the only way to reach the loaders
    # MMEngine registered; ``register_scheme(force=True)`` is public API.
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        CheckpointLoader.register_scheme(
            prefix, _refusing_unsafe(loader), force=True)


_install_safe_loaders()


def atomic_write(filepath: Union[str, Path], data: bytes) -> None:
    """Replace ``filepath`` with ``data`` so that, even if the process dies
    or the machine loses power mid-way, the path holds either its old
    content or all of ``data``, never a prefix.

    The temporary file lives in the target's directory (``os.replace`` is
    atomic only within one filesystem) and starts with a dot so checkpoint
    globs skip it; a SIGKILL can leave one behind, never a torn target.
    """
    path = osp.abspath(os.fspath(filepath))
    directory, name = osp.split(path)
    os.makedirs(directory, exist_ok=True)
    tmp = osp.join(directory, f'.{name}.{os.getpid()}.{uuid.uuid4().hex}.tmp')
    try:
        # 'x' never clobbers, and unlike mkstemp's 0600 honours the umask.
        with open(tmp, 'xb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)  # make the rename durable
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def dump_json_atomic(obj: Any, filepath: Union[str, Path]) -> None:
    """Write ``obj`` as JSON with :func:`atomic_write` (numpy values are
    converted by ``mmengine.dump``), e.g. tools/test.py's ``--out``."""
    atomic_write(filepath,
                 mmengine.dump(obj, file_format='json', indent=2).encode())


@register_backend(ATOMIC_LOCAL_BACKEND)
class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose writes go through :func:`atomic_write`.

    Select it with ``backend_args=dict(backend='segkit_atomic_local')``;
    reads, ``join_path``, ``isfile`` and ``remove`` are LocalBackend's.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write(filepath, obj)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        atomic_write(filepath, obj.encode(encoding))


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that no kill can leave with a torn checkpoint, a
    torn ``last_checkpoint`` or a ``last_checkpoint`` naming a deleted file.

    Takes CheckpointHook's arguments. ``backend_args`` defaults to the atomic
    local backend unless ``out_dir`` is a URI or ``file_client_args`` /
    ``backend_args`` are given.
    """

    def __init__(self,
                 *,
                 out_dir: Union[str, Path, None] = None,
                 file_client_args: Optional[dict] = None,
                 backend_args: Optional[dict] = None,
                 **kwargs) -> None:
        if (backend_args is None and file_client_args is None
                and '://' not in str(out_dir or '')):
            backend_args = dict(backend=ATOMIC_LOCAL_BACKEND)
        super().__init__(
            out_dir=out_dir,
            file_client_args=file_client_args,
            backend_args=backend_args,
            **kwargs)

    def _save_checkpoint_with_step(self, runner, step: int,
                                   meta: dict) -> None:
        # MMEngine 0.10.7's version, reordered: it deletes the oldest kept
        # checkpoint *before* saving the new one and then writes
        # last_checkpoint with a bare open(); a kill in between leaves one
        # checkpoint fewer, or an empty pointer, or a pointer to the deleted
        # file. Here keep_ckpt_ids is updated first (so the saved message hub
        # is right) but the file is deleted only once the new checkpoint and
        # the pointer to it are on disk.
        expired = None
        if self.max_keep_ckpts > 0 and (not self.keep_ckpt_ids
                                        or self.keep_ckpt_ids[-1] != step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                expired = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)

        if not is_main_process():
            return
        atomic_write(
            osp.join(runner.work_dir, 'last_checkpoint'),
            self.last_ckpt.encode())
        if expired is not None:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(expired))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # DeepSpeed saves folders
                self.file_backend.rmtree(path)
