"""A local file backend whose writes are atomic (``'segkit_atomic_local'``)."""
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

from segkit.utils import atomic_write

ATOMIC_LOCAL_BACKEND = 'segkit_atomic_local'


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
