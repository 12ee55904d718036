"""Training-engine pieces MMEngine does not provide (or provides unsafely)."""
from .checkpoint import (ATOMIC_LOCAL_BACKEND, SAFE_CHECKPOINT_GLOBALS,
                         AtomicCheckpointHook, AtomicLocalBackend,
                         UnsafeCheckpointError, atomic_write,
                         dump_json_atomic)
from .dist import prepare_distributed

__all__ = [
    'ATOMIC_LOCAL_BACKEND', 'SAFE_CHECKPOINT_GLOBALS', 'AtomicCheckpointHook',
    'AtomicLocalBackend', 'UnsafeCheckpointError', 'atomic_write',
    'dump_json_atomic', 'prepare_distributed'
]
