"""MMEngine's CheckpointHook, made safe against a kill at any moment."""
import contextlib
import os.path as osp
from pathlib import Path
from typing import Iterator, List, Optional, Union

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from segkit.registry import HOOKS
from ..atomic_backend import ATOMIC_LOCAL_BACKEND, AtomicLocalBackend


class _DeferredRemoval:
    """A file backend stand-in that records removals instead of doing them;
    everything else goes to the real backend."""

    def __init__(self, backend) -> None:
        self._backend = backend
        self.removed: List[str] = []

    def remove(self, path: str) -> None:
        self.removed.append(path)

    def rmtree(self, path: str) -> None:  # DeepSpeed saves folders
        self.removed.append(path)

    def __getattr__(self, name: str):
        return getattr(self._backend, name)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that a kill never leaves without a complete
    checkpoint and a ``last_checkpoint`` naming it.

    MMEngine deletes the oldest kept checkpoint before it saves the new one
    and writes ``last_checkpoint`` with a bare ``open``. Here checkpoints
    are written atomically, the deletion waits until the new checkpoint and
    the pointer to it are on disk, and the pointer is rewritten atomically.

    Args:
        out_dir: As ``CheckpointHook``.
        file_client_args: As ``CheckpointHook``.
        backend_args: As ``CheckpointHook``; the atomic local backend unless
            ``out_dir`` is a URI or either of these is given.
        **kwargs: The rest of ``CheckpointHook``'s arguments.
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
        # MMEngine's one private method that every periodic save goes
        # through; tests/engine/test_mmengine_contract.py fails if it moves.
        with self._removal_deferred() as deferred:
            super()._save_checkpoint_with_step(runner, step, meta)
        if not is_main_process():
            return
        AtomicLocalBackend().put_text(
            self.last_ckpt, osp.join(runner.work_dir, 'last_checkpoint'))
        for path in deferred.removed:
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)

    @contextlib.contextmanager
    def _removal_deferred(self) -> Iterator[_DeferredRemoval]:
        backend = self.file_backend
        self.file_backend = _DeferredRemoval(backend)
        try:
            yield self.file_backend
        finally:
            self.file_backend = backend
