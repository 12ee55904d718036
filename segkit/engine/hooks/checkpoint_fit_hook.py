"""Refuse a ``load_from`` checkpoint that does not fit the model."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from segkit.registry import HOOKS
from segkit.utils import compare_state_dicts, enforce_fit
from ..model_loading import adapt_to, read_checkpoint


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Check a Runner's ``load_from`` checkpoint before the Runner loads it.

    MMEngine loads ``load_from`` non-strictly: a checkpoint of another
    ``num_classes`` leaves the head random and the scores meaningless. This
    hook runs in ``before_run``, which comes first in ``train``, ``val`` and
    ``test``; a resumed run is checked too.

    Args:
        strict: Stop with :class:`~segkit.utils.CheckpointMismatchError`
            on any difference; ``False`` only logs what does not fit (for
            fine-tuning to another head).
        relax: How the user turns ``strict`` off, the end of the error's
            advice; tools with a ``--no-strict`` flag name it here.
    """

    priority = 'VERY_HIGH'

    def __init__(self, strict: bool = True,
                 relax: str = "set dict(type='CheckpointFitHook', "
                 'strict=False) in custom_hooks') -> None:
        self.strict = strict
        self.relax = relax

    def before_run(self, runner) -> None:
        # What load_or_resume will load; MMEngine has no public accessor.
        checkpoint = runner._load_from
        if not checkpoint:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        state = adapt_to(model, read_checkpoint(checkpoint)[0])
        enforce_fit(compare_state_dicts(model, state, checkpoint),
                    self.strict, self.relax)
