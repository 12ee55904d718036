"""Facts about this machine and about what a model computes on it: the
CPU, the precision a convolution really runs in, FLOP counts."""
import os
import platform
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List

import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from segkit.engine.optim import CPUAutocastOptimWrapper, cpu_supports_bf16

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


def wrapper_precision(wrapper: OptimWrapper) -> str:
    """The precision an optimiser wrapper trains in."""
    if isinstance(wrapper, CPUAutocastOptimWrapper):
        return 'bf16'
    if isinstance(wrapper, AmpOptimWrapper):
        return 'bf16' if wrapper.cast_dtype == torch.bfloat16 else 'fp16'
    return 'fp32'


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: str) -> Dict[str, Any]:
    info = dict(device=device, cpu=cpu_model(),
                cpus=len(os.sched_getaffinity(0)),
                threads=torch.get_num_threads(), torch=torch.__version__,
                cpu_native_bf16=cpu_supports_bf16())
    if device == 'cuda':
        info['gpu'] = torch.cuda.get_device_name()
    return info
