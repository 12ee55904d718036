"""Facts about this machine and about what a model computes on it: the
CPU, the precision a convolution really runs in, FLOP counts. The machine
and precision facts a run's report shows too live in
``segkit.engine.run_facts``."""
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from segkit.engine.run_facts import (cpu_model, machine_info,
                                     wrapper_precision)

__all__ = ['DTYPES', 'conv_dtypes', 'count_gflop', 'cpu_model',
           'dtype_name', 'machine_info', 'wrapper_precision']

DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16,
          'fp16': torch.float16}


def count_gflop(run: Callable[[], Any]) -> float:
    """GFLOP (multiply and add counted apart) of the convolutions and
    matrix products that ``run()`` executes, as FlopCounterMode sees them."""
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops() / 1e9


@contextmanager
def conv_dtypes(model: nn.Module) -> Iterator[List[torch.dtype]]:
    """The output dtypes of the model's first convolution while inside: the
    precision it really computes in, whatever autocast is around it."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)),
                None)
    if conv is None:
        raise ValueError(f'{type(model).__name__} has no Conv2d to observe')
    seen: List[torch.dtype] = []
    handle = conv.register_forward_hook(
        lambda module, inputs, output: seen.append(output.dtype))
    try:
        yield seen
    finally:
        handle.remove()


def dtype_name(dtype: torch.dtype) -> str:
    return next(name for name, value in DTYPES.items() if value == dtype)
