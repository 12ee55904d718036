"""Pick the optimiser wrapper for the machine a config runs on.

Configs ask for ``AmpOptimWrapper``, which asserts a GPU as soon as it is
built. With ``constructor='PrecisionOptimWrapperConstructor'`` the same
config uses CUDA AMP on a GPU (bf16 where the GPU computes it natively, else
fp16 with dynamic loss scaling), bf16 autocast on a CPU with native bf16,
and fp32 otherwise, instead of crashing on a laptop or CI runner.
"""
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import (AmpOptimWrapper, DefaultOptimWrapperConstructor,
                            OptimWrapper)

from segkit.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS

PRECISIONS = ('auto', 'fp32', 'bf16', 'fp16')
_AMP_DTYPES = {'fp16': 'float16', 'bf16': 'bfloat16'}
# AmpOptimWrapper arguments that OptimWrapper would reject.
_AMP_ONLY_KEYS = ('loss_scale', 'dtype', 'use_fsdp')
# torch optimisers with a fused implementation that takes ``found_inf``.
_FUSABLE = ('Adam', 'AdamW', 'SGD')


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward runs under CPU bf16 autocast.

    Weights, gradients and optimiser state stay fp32, as with CUDA AMP. bf16
    has fp32's exponent range, so unlike fp16 it needs no loss scaling and
    the state dict is plain OptimWrapper's: checkpoints move freely between
    this wrapper and an fp32 one.
    """

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        with super().optim_context(model), torch.autocast(
                'cpu', dtype=torch.bfloat16):
            yield


def cpu_supports_bf16() -> bool:
    """Whether this CPU has native bf16 matmuls (AVX512-BF16, implied by
    AMX) for oneDNN to use; elsewhere CPU bf16 autocast is emulated and
    slower than fp32."""
    return (torch.backends.mkldnn.is_available()
            and torch.cpu._is_avx512_bf16_supported())


def cuda_supports_bf16() -> bool:
    """Whether the current GPU computes bf16 natively (compute capability 8.0
    and newer); emulated bf16 on older GPUs is slower than fp16."""
    return torch.cuda.is_bf16_supported(including_emulation=False)


def autocast_dtype(precision: str,
                   device_type: str) -> Optional[torch.dtype]:
    """What inference under ``precision`` autocasts to on ``device_type``;
    ``None`` means fp32. CUDA: float16 for ``'auto'`` and ``'fp16'``,
    bfloat16 for ``'bf16'``. CPU: bfloat16 for ``'auto'`` and ``'bf16'`` if
    the CPU has native bf16, else fp32, as emulated half precision is slower
    than fp32 there."""
    if precision not in PRECISIONS:
        raise ValueError(f'precision={precision!r} is not one of '
                         f'{PRECISIONS}')
    if precision == 'fp32':
        return None
    if device_type == 'cuda':
        return torch.bfloat16 if precision == 'bf16' else torch.float16
    if precision != 'fp16' and cpu_supports_bf16():
        return torch.bfloat16
    return None


def _without_amp_keys(cfg: dict, wrapper: type) -> dict:
    kept = {k: v for k, v in cfg.items() if k not in _AMP_ONLY_KEYS}
    return dict(kept, type=wrapper)


def select_optim_wrapper(cfg: dict, cuda_available: bool, cpu_bf16: bool,
                         cuda_bf16: bool = False) -> dict:
    """Resolve an ``optim_wrapper`` config's precision for this machine.

    ``cfg['precision']`` (default ``'auto'``) decides. Under ``'auto'`` the
    config's ``type`` does: ``'OptimWrapper'`` means fp32, while
    ``'AmpOptimWrapper'`` or no type means mixed precision where the machine
    has it: CUDA AMP (dtype from ``cfg['dtype']``, else bfloat16 on a GPU
    with native bf16 (``cuda_bf16``), else float16), else bf16 autocast on
    a CPU with native bf16 (``cpu_bf16``), else fp32. ``'fp16'`` and
    ``'bf16'`` use AMP with that dtype on CUDA; on CPU ``'bf16'`` uses
    :class:`CPUAutocastOptimWrapper` if ``cpu_bf16``, else fp32, and
    ``'fp16'`` is an error. CUDA AMP in bf16 gets no loss scaler unless the
    config sets ``loss_scale``: bf16 has fp32's exponent range, so its
    gradients do not underflow; fp16 keeps ``AmpOptimWrapper``'s dynamic
    loss scaling.

    Returns a new config with ``precision`` dropped and ``type`` set to the
    wrapper class. Pure apart from one log line whenever mixed precision was
    asked for and the machine decides what it gets.
    """
    resolved = dict(cfg)
    precision = resolved.pop('precision', 'auto')
    if precision not in PRECISIONS:
        raise ValueError(f'optim_wrapper.precision={precision!r} is not one '
                         f'of {PRECISIONS}')
    requested = resolved.pop('type', None)
    requested = getattr(requested, '__name__', requested)
    if requested not in (None, 'OptimWrapper', 'AmpOptimWrapper'):
        raise ValueError(
            f'optim_wrapper.type={requested!r}: PrecisionOptimWrapper'
            "Constructor chooses between 'OptimWrapper' and "
            "'AmpOptimWrapper' itself; use the default constructor for "
            'other wrappers')

    if precision == 'fp32' or (precision == 'auto'
                               and requested == 'OptimWrapper'):
        return _without_amp_keys(resolved, OptimWrapper)
    if cuda_available:
        if precision == 'auto':
            resolved.setdefault('dtype',
                                'bfloat16' if cuda_bf16 else 'float16')
        else:
            resolved['dtype'] = _AMP_DTYPES[precision]
        if resolved['dtype'] in ('bfloat16', torch.bfloat16):
            resolved.setdefault('loss_scale', dict(enabled=False))
        if precision == 'auto':
            scale = resolved.get('loss_scale', 'dynamic')
            scaling = ('dynamic loss scaling' if scale == 'dynamic' else
                       'no loss scaling' if scale == dict(enabled=False)
                       else f'loss_scale={scale!r}')
            print_log(
                "optim_wrapper.precision='auto' on CUDA: AMP in "
                f"{resolved['dtype']} with {scaling}.",
                logger='current',
                level=logging.INFO)
        return dict(resolved, type=AmpOptimWrapper)
    if precision == 'fp16':
        raise ValueError(
            "optim_wrapper.precision='fp16' needs CUDA (fp16 training relies "
            "on CUDA AMP's loss scaling), and CUDA is not available; use "
            "'bf16' or 'fp32' on this machine")
    if cpu_bf16:
        print_log(
            f"optim_wrapper.precision={precision!r} on a CPU with native "
            'bf16: training under bf16 autocast.',
            logger='current',
            level=logging.INFO)
        return _without_amp_keys(resolved, CPUAutocastOptimWrapper)
    print_log(
        f'optim_wrapper.precision={precision!r}, but there is no CUDA and '
        'this CPU has no native bf16 (AVX512-BF16/AMX): training in fp32.',
        logger='current',
        level=logging.WARNING)
    return _without_amp_keys(resolved, OptimWrapper)


def fused_by_default(optimizer: dict) -> dict:
    """``optimizer`` with ``fused=True`` where it is torch's Adam, AdamW or
    SGD and the config chose no implementation (``fused`` / ``foreach``).

    The fused kernels are the fastest on CPU and GPU alike, and they take
    ``found_inf``, so that NonFiniteLossHook withholds a step on the device
    instead of waiting for it every iteration.
    """
    kind = getattr(optimizer.get('type'), '__name__', optimizer.get('type'))
    if kind not in _FUSABLE or {'fused', 'foreach'} & set(optimizer):
        return optimizer
    return dict(optimizer, fused=True)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class PrecisionOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` that first resolves the config's
    ``precision`` / ``type`` with :func:`select_optim_wrapper` for the
    machine it runs on, and makes Adam, AdamW and SGD fused unless the
    config says otherwise (:func:`fused_by_default`)."""

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        cuda = torch.cuda.is_available()
        optim_wrapper_cfg = dict(optim_wrapper_cfg)
        if 'optimizer' in optim_wrapper_cfg:
            optim_wrapper_cfg['optimizer'] = fused_by_default(
                optim_wrapper_cfg['optimizer'])
        super().__init__(
            select_optim_wrapper(
                optim_wrapper_cfg,
                cuda_available=cuda,
                cpu_bf16=cpu_supports_bf16(),
                cuda_bf16=cuda and cuda_supports_bf16()), paramwise_cfg)
