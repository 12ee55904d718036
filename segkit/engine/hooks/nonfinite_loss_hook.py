"""Stop, or skip, a training step whose loss is NaN or infinite, before it
reaches the parameters or any checkpoint, without waiting for the device
in every iteration."""
import math
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook, LoggerHook
from mmengine.optim import OptimWrapper

from segkit.registry import HOOKS

#: Message hub runtime info: batches skipped so far. Runtime info is saved in
#: checkpoints, so the count carries over a resume.
SKIPPED_INFO_KEY = 'nonfinite_skipped'


class NonFiniteLossError(FloatingPointError):
    """A training iteration produced a NaN or infinite loss."""


def _nonfinite_on_any_rank(loss: torch.Tensor) -> torch.Tensor:
    """1.0 where ``loss`` is not finite on some process, else 0.0, as a
    float tensor on the loss's device. One DDP rank skipping a step alone
    would leave the ranks' weights apart, so all ranks decide together (a
    no-op outside DDP)."""
    bad = (~torch.isfinite(loss.detach())).any().to(torch.float32)
    all_reduce(bad, op='max')
    return bad


def skips_steps_on_device(wrapper: OptimWrapper) -> bool:
    """Whether ``wrapper`` can withhold an optimiser step on the device:
    its optimiser takes ``found_inf`` (torch's fused Adam, AdamW and SGD,
    as ``GradScaler`` uses them) in every parameter group, and no fp16
    loss scaler would overwrite it."""
    optimizer = wrapper.optimizer
    scaler = getattr(wrapper, 'loss_scaler', None)
    return (getattr(optimizer, '_step_supports_amp_scaling', False)
            and all(group.get('fused') for group in optimizer.param_groups)
            and not (scaler is not None and scaler.is_enabled()))


def _terms(values: Dict[str, float]) -> str:
    """``name=value`` of the logged loss terms that are not finite."""
    terms = [
        f'{name}={value}' for name, value in values.items()
        if not math.isfinite(value)
    ]
    return ', '.join(terms) or 'finite here, not finite on another rank'


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Keep a NaN/inf loss out of the weights and the checkpoints.

    Before training, the runner's optimiser wrapper's ``update_params`` is
    wrapped (whatever class ``PrecisionOptimWrapperConstructor`` chose) so
    that a step whose loss is not finite on some rank never changes the
    parameters, the optimiser state or the AMP loss scale.

    Where the optimiser is fused (segkit's default for Adam, AdamW and SGD)
    that is decided on the device, as ``GradScaler`` skips an inf step: the
    flag goes to the optimiser as ``found_inf`` and the host never waits
    for it. What happened is read back at the next point that reads the
    device anyway: a log point, a validation, a checkpoint save, the end
    of training. To stop "at" iteration k, every step after k is withheld
    too, so the weights and every checkpoint are from before iteration k.
    Elsewhere (other optimisers, an fp16 loss scaler) the flag is read
    each iteration and the step not taken: one synchronisation per
    iteration.

    At the check (``ABOVE_NORMAL`` priority: before LoggerHook,
    ParamSchedulerHook, CheckpointHook and the loop's validation) the hook
    either raises :class:`NonFiniteLossError` naming the first bad
    iteration (1-based, as in ``Iter(train) [k/N]`` and ``iter_k.pth``)
    and its non-finite terms, or, with ``skip_nonfinite=True``, logs a
    warning naming the latest skipped batch and counts them (message hub
    info ``nonfinite_skipped``; the total is logged when training ends). A
    skipped batch still uses up its iteration and LR-schedule step.

    The guard sits in ``optim_wrapper.update_params``, which
    ``BaseModel.train_step`` and MMEngine's DDP wrapper call; a model whose
    ``train_step`` bypasses it is refused rather than left unguarded.

    Args:
        skip_nonfinite: skip such batches and go on instead of stopping.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, skip_nonfinite: bool = False) -> None:
        self.skip_nonfinite = skip_nonfinite
        self._reported = 0  # skipped batches already in the message hub
        self._check_interval = 1
        # Device state, set in before_train: batches found bad so far; the
        # iteration and terms of the one to report; the optimiser's flag.
        self._count: Optional[torch.Tensor] = None
        self._iteration: Optional[torch.Tensor] = None
        self._values: Dict[str, torch.Tensor] = {}
        self._withhold: Optional[torch.Tensor] = None
        # Set by the guarded update_params: None until it runs in an
        # iteration, then its "not finite" flag (float tensor), and where
        # it was read on the host, its value there.
        self._bad: Optional[torch.Tensor] = None
        self._bad_on_host: Optional[bool] = None

    def before_train(self, runner) -> None:
        self._reported = runner.message_hub.get_info(SKIPPED_INFO_KEY, 0)
        self._check_interval = next(
            (hook.interval for hook in runner.hooks
             if isinstance(hook, LoggerHook)), 1)
        wrapper = runner.optim_wrapper
        device = next(runner.model.parameters()).device
        self._count = torch.zeros((), device=device)
        self._iteration = torch.zeros((), device=device)
        self._withhold = torch.zeros((), device=device)
        self._values = {}
        update_params = wrapper.update_params

        def guarded_update_params(loss: torch.Tensor,
                                  step_kwargs: Optional[dict] = None,
                                  zero_kwargs: Optional[dict] = None) -> None:
            self._bad = _nonfinite_on_any_rank(loss)
            if not skips_steps_on_device(wrapper):
                self._bad_on_host = bool(self._bad.item())
                if not self._bad_on_host:
                    update_params(loss, step_kwargs, zero_kwargs)
                return
            # Gradients accumulate until a step; stopping withholds all.
            self._withhold = torch.maximum(self._withhold, self._bad)
            wrapper.optimizer.found_inf = self._withhold
            try:
                update_params(loss, step_kwargs, zero_kwargs)
            finally:
                del wrapper.optimizer.found_inf
            if self.skip_nonfinite and wrapper.should_update():
                self._withhold = torch.zeros_like(self._withhold)

        wrapper.update_params = guarded_update_params

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        self._bad = self._bad_on_host = None

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if self._bad is None:
            raise RuntimeError(
                f'{type(self).__name__}: {type(runner.model).__name__}.'
                'train_step did not call optim_wrapper.update_params, so a '
                'non-finite loss cannot be kept from the optimiser: step '
                'through update_params, or give this config default_hooks '
                'without nonfinite_loss (_delete_=True)')
        if self._bad_on_host is False:
            return
        # Remember the batch to report (the latest skipped, or the first
        # bad when stopping), all on the device.
        keep = self._bad > 0
        if not self.skip_nonfinite:
            keep = keep & (self._count == 0)
        self._iteration = torch.where(keep, float(runner.iter + 1),
                                      self._iteration)
        for name, value in (outputs or {}).items():
            if isinstance(value, torch.Tensor):
                value = value.detach().float().reshape(())
                self._values[name] = torch.where(
                    keep, value, self._values.get(name, value))
        self._count = self._count + self._bad
        if (self._bad_on_host
                or self.every_n_train_iters(runner, self._check_interval)
                or self.is_last_train_iter(runner)):
            self._check(runner)

    def before_val(self, runner) -> None:
        if self._count is not None:
            self._check(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._count is not None:
            self._check(runner)
            info = checkpoint.get('message_hub', {}).get('runtime_info')
            if info is not None and self._reported:
                info[SKIPPED_INFO_KEY] = self._reported

    def after_train(self, runner) -> None:
        self._check(runner)
        if self._reported:
            runner.logger.warning(
                f'{self._reported} training batch(es) skipped for a '
                'non-finite loss')

    def _check(self, runner) -> None:
        """Read the device state back once; stop, or log what was
        skipped since the last check."""
        names = list(self._values)
        count, iteration, *values = torch.stack(
            [self._count, self._iteration,
             *(self._values[name] for name in names)]).tolist()
        if not count:
            return
        terms = _terms(dict(zip(names, values)))
        if not self.skip_nonfinite:
            raise NonFiniteLossError(
                f'Non-finite loss at iteration {int(iteration)} ({terms}). '
                'Training stopped before its optimiser step, so the '
                'weights and every checkpoint are from before this '
                'iteration. Set default_hooks.nonfinite_loss.skip_nonfinite'
                '=True to skip such batches instead.')
        skipped = self._reported + int(count)
        since = f', {int(count)} since the last check' if count > 1 else ''
        runner.logger.warning(
            f'Non-finite loss at iteration {int(iteration)} ({terms}): batch '
            f'skipped, parameters not updated ({skipped} skipped so '
            f'far{since})')
        self._reported = skipped
        self._count = torch.zeros_like(self._count)
        runner.message_hub.update_info(SKIPPED_INFO_KEY, skipped)
