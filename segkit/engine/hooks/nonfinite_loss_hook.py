"""Stop, or skip, a training step whose loss is NaN or infinite, before it
reaches the parameters or any checkpoint."""
from typing import Optional

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook

from segkit.registry import HOOKS

#: Message hub runtime info: batches skipped so far. Runtime info is saved in
#: checkpoints, so the count carries over a resume.
SKIPPED_INFO_KEY = 'nonfinite_skipped'


class NonFiniteLossError(FloatingPointError):
    """A training iteration produced a NaN or infinite loss."""


def _finite_on_every_rank(loss: torch.Tensor) -> bool:
    """Whether ``loss`` is finite on every process. One DDP rank skipping
    ``backward`` alone would leave the others waiting in the gradient
    all-reduce, so all ranks decide together (a no-op outside DDP)."""
    finite = torch.isfinite(loss.detach()).all().to(torch.float32)
    all_reduce(finite, op='min')
    return bool(finite.item())


def _nonfinite_terms(outputs: Optional[dict]) -> str:
    """``name=value`` of the logged loss terms that are not finite."""
    terms = []
    for name, value in (outputs or {}).items():
        value = torch.as_tensor(value).detach()
        if not torch.isfinite(value).all():
            terms.append(f'{name}={value.tolist()}')
    return ', '.join(terms) or 'finite here, not finite on another rank'


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Keep a NaN/inf loss out of the weights and the checkpoints.

    Before training, the runner's optimiser wrapper is wrapped (whatever
    class ``PrecisionOptimWrapperConstructor`` chose) so that a loss that is
    not finite on some rank never reaches ``backward`` or
    ``optimizer.step``: parameters, optimiser state and AMP loss scale stay
    as the last good batch left them. By ``after_train_iter`` MMEngine has
    already stepped the optimiser, so checking only there would be too
    late for the weights.

    Then, in ``after_train_iter`` -- ``ABOVE_NORMAL`` priority, so before
    LoggerHook, ParamSchedulerHook, CheckpointHook (``VERY_LOW``) and the
    loop's validation, hence before any periodic or best checkpoint of the
    iteration -- the hook either raises :class:`NonFiniteLossError` naming
    the iteration (1-based, as in ``Iter(train) [k/N]`` and ``iter_k.pth``)
    and the non-finite terms, or, with ``skip_nonfinite=True``, logs a
    warning and counts the skipped batch (message hub info
    ``nonfinite_skipped``; the total is logged when training ends). A
    skipped batch still uses up its iteration and LR-schedule step.

    The guard sits in ``optim_wrapper.update_params``, which
    ``BaseModel.train_step`` and MMEngine's DDP wrapper call; a model whose
    ``train_step`` bypasses it is refused rather than left unguarded.
    MessageHub already reads every logged loss back to the host each
    iteration, so the check adds no device synchronisation of note.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, skip_nonfinite: bool = False) -> None:
        self.skip_nonfinite = skip_nonfinite
        self._skipped = 0
        # Set by the guarded update_params: None until it runs in an
        # iteration, then whether it withheld that iteration's step.
        self._withheld: Optional[bool] = None

    def before_train(self, runner) -> None:
        self._skipped = runner.message_hub.get_info(SKIPPED_INFO_KEY, 0)
        wrapper = runner.optim_wrapper
        update_params = wrapper.update_params

        def guarded_update_params(loss: torch.Tensor,
                                  step_kwargs: Optional[dict] = None,
                                  zero_kwargs: Optional[dict] = None) -> None:
            self._withheld = not _finite_on_every_rank(loss)
            if not self._withheld:
                update_params(loss, step_kwargs, zero_kwargs)

        wrapper.update_params = guarded_update_params

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        self._withheld = None

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if self._withheld is None:
            raise RuntimeError(
                f'{type(self).__name__}: {type(runner.model).__name__}.'
                'train_step did not call optim_wrapper.update_params, so a '
                'non-finite loss cannot be kept from the optimiser: step '
                'through update_params, or give this config default_hooks '
                'without nonfinite_loss (_delete_=True)')
        if not self._withheld:
            return
        iteration = runner.iter + 1
        terms = _nonfinite_terms(outputs)
        if not self.skip_nonfinite:
            raise NonFiniteLossError(
                f'Non-finite loss at iteration {iteration} ({terms}). '
                'Training stopped before the optimiser step, so the weights '
                'and every checkpoint are from before this iteration. Set '
                'default_hooks.nonfinite_loss.skip_nonfinite=True to skip '
                'such batches instead.')
        self._skipped += 1
        runner.message_hub.update_info(SKIPPED_INFO_KEY, self._skipped)
        runner.logger.warning(
            f'Non-finite loss at iteration {iteration} ({terms}): batch '
            f'skipped, parameters not updated ({self._skipped} skipped so '
            'far)')

    def after_train(self, runner) -> None:
        if self._skipped:
            runner.logger.warning(
                f'{self._skipped} training batch(es) skipped for a '
                'non-finite loss')
