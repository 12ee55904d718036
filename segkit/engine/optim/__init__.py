"""Optimiser wrappers and constructors (found by the registries' locations)."""
from .precision import (PRECISIONS, CPUAutocastOptimWrapper,
                        PrecisionOptimWrapperConstructor, autocast_dtype,
                        cpu_supports_bf16, cuda_supports_bf16,
                        select_optim_wrapper)

__all__ = [
    'PRECISIONS', 'CPUAutocastOptimWrapper',
    'PrecisionOptimWrapperConstructor', 'autocast_dtype', 'cpu_supports_bf16',
    'cuda_supports_bf16', 'select_optim_wrapper'
]
