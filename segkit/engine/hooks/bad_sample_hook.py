"""Bring the bad samples that dataloader workers skipped into the log."""
from typing import Dict, Optional

from mmengine.hooks import Hook

from segkit.registry import HOOKS
from segkit.structures import SKIPPED_SAMPLES_KEY
from segkit.utils import listing


@HOOKS.register_module()
class BadSampleHook(Hook):
    """Counts the training samples that ``on_bad_sample='skip'`` replaced
    into the training log, as ``skipped_samples`` (the running total, shown
    from the first skip on), and lists the files at the end of training.

    Skips happen in dataloader workers, separate processes whose counters
    the training loop cannot see; each replacement sample carries what it
    replaced in its metainfo (:data:`~segkit.structures.SKIPPED_SAMPLES_KEY`),
    and this hook reads it
    from every batch. Counts are per rank: under DDP the log shows rank
    0's share.
    """

    def before_train(self, runner) -> None:
        self.count = 0
        self.reasons: Dict[str, str] = {}

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        # getattr, not sample.metainfo: that copies every sample's whole
        # metainfo into a new dict, a millisecond per batch of 8.
        skipped = [pair for sample in (data_batch or {}).get(
            'data_samples', ()) for pair in getattr(
                sample, SKIPPED_SAMPLES_KEY, ())]
        if not (skipped or self.count):
            return
        self.count += len(skipped)
        for name, reason in skipped:
            self.reasons.setdefault(name, reason)
        runner.message_hub.update_scalar('train/skipped_samples', self.count)

    def after_train(self, runner) -> None:
        if self.count:
            runner.logger.warning(
                f'{self.count} bad training sample(s) were replaced by '
                f"others (on_bad_sample='skip'), from {len(self.reasons)} "
                'file(s):' + listing([f'{name}: {reason}' for name, reason
                                      in sorted(self.reasons.items())]))
