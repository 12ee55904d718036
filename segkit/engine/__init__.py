"""Training-engine pieces MMEngine does not provide (or provides unsafely)."""
from .atomic_backend import ATOMIC_LOCAL_BACKEND, AtomicLocalBackend
from .checkpoint import (SAFE_CHECKPOINT_GLOBALS, UnsafeCheckpointError,
                         install_checkpoint_safety)
from .dist import prepare_distributed
from .model_loading import load_model_weights, read_checkpoint
from .runner import SegRunner
from .time_budget_loop import TimeBudgetTrainLoop

__all__ = [
    'ATOMIC_LOCAL_BACKEND', 'AtomicLocalBackend', 'SAFE_CHECKPOINT_GLOBALS',
    'UnsafeCheckpointError', 'install_checkpoint_safety',
    'SegRunner', 'TimeBudgetTrainLoop', 'load_model_weights', 'prepare_distributed',
    'read_checkpoint'
]
