"""Histograms of the weights and their gradients, every ``interval``
training iterations, in TensorBoard and W&B."""
import logging
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.visualization import BaseVisBackend
from torch import nn
from torch.utils.hooks import RemovableHandle

from segkit.registry import HOOKS
from segkit.utils import ConfigValueError
from segkit.visualization.vis_backends import (HISTOGRAM_BACKENDS,
                                               add_histograms)


def _on_host(tensor: torch.Tensor) -> np.ndarray:
    """A float32 copy on the host: numpy has no bfloat16, and a gradient
    may be zeroed in place after the step."""
    return tensor.detach().to('cpu', torch.float32, copy=True).numpy()


@HOOKS.register_module()
class HistogramHook(Hook):
    """Every ``interval`` training iterations, a histogram of each trainable
    parameter (``params/<name>``) and of its gradient (``grads/<name>``) in
    the visualizer's TensorBoard and W&B backends.

    MMEngine's ``OptimWrapper.update_params`` runs backward, the optimiser
    step and ``zero_grad`` inside ``train_step``, so by ``after_train_iter``
    the gradients are gone. They are read in a step pre-hook of the
    optimiser (``Optimizer.register_step_pre_hook``) instead: there they
    are the gradients the step applies, accumulated over
    ``accumulative_counts``, clipped, and unscaled by AMP's loss scaler
    (which unscales before it calls ``step``, and skips the step on an
    inf/NaN gradient). An iteration without a step has no ``grads``. The
    weights are read in ``after_train_iter``: ``params`` at step ``k`` are
    those of ``iter_k.pth``.

    Off the interval the hook touches no tensor, so it adds no
    device-to-host synchronisation. Only rank 0 logs (DDP ranks hold the
    same weights and all-reduced gradients). Other backends
    (``LocalVisBackend``, MLflow) take no histograms; with none that does,
    the hook warns once and does nothing.

    Args:
        interval: Training iterations between histograms.
        modules: Names of the submodules whose parameters are drawn, as in
            ``model.named_modules()`` (``('backbone', 'decode_head')``);
            empty: the whole model.
    """

    def __init__(self,
                 interval: int = 500,
                 modules: Sequence[str] = ()) -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ConfigValueError(
                f'HistogramHook interval={interval!r}: expected an int >= 1, '
                'the training iterations between histograms')
        self.interval = interval
        self.modules = tuple(modules)
        self._backends: List[BaseVisBackend] = []
        self._params: Dict[str, nn.Parameter] = {}
        self._grads: Dict[str, np.ndarray] = {}
        self._due = False
        self._handle: Optional[RemovableHandle] = None

    def before_train(self, runner) -> None:
        model = runner.model
        self._params = self._trainable(
            model.module if is_model_wrapper(model) else model)
        if not is_main_process():
            return
        backends = runner.visualizer._vis_backends
        self._backends = [backend for backend in backends.values()
                          if isinstance(backend, HISTOGRAM_BACKENDS)]
        if not self._backends:
            print_log(
                f'HistogramHook: none of the visualizer\'s backends '
                f'({", ".join(backends) or "none"}) takes histograms; add '
                "dict(type='TensorboardVisBackend') or "
                "dict(type='WandbVisBackend') to visualizer.vis_backends",
                logger='current', level=logging.WARNING)
            return
        self._handle = runner.optim_wrapper.optimizer.register_step_pre_hook(
            self._read_grads)

    def _trainable(self, model: nn.Module) -> Dict[str, nn.Parameter]:
        """Name to trainable parameter of the selected :attr:`modules`."""
        named = dict(model.named_modules())
        unknown = [name for name in self.modules if name not in named]
        if unknown:
            children = [name for name, _ in model.named_children()]
            raise ConfigValueError(
                f'HistogramHook modules={self.modules!r}: '
                f'{type(model).__name__} has no submodule '
                f'{", ".join(map(repr, unknown))}; expected names from '
                f'model.named_modules(), such as {children}')
        return {name: param for prefix in self.modules or ('', )
                for name, param in named[prefix].named_parameters(prefix)
                if param.requires_grad}

    def _read_grads(self, optimizer: torch.optim.Optimizer, args: tuple,
                    kwargs: dict) -> None:
        """Optimiser step pre-hook: copy the gradients at the interval."""
        if self._due:
            self._grads = {f'grads/{name}': _on_host(param.grad)
                           for name, param in self._params.items()
                           if param.grad is not None}

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: Any = None) -> None:
        self._due = bool(self._backends) and self.every_n_train_iters(
            runner, self.interval)

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        if not self._due:
            return
        histograms = {f'params/{name}': _on_host(param)
                      for name, param in self._params.items()}
        histograms.update(self._grads)
        self._grads = {}
        for backend in self._backends:
            add_histograms(backend, histograms, runner.iter + 1)

    def after_train(self, runner) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
