"""Stop or warn before training on masks that teach nothing."""
import time
from typing import Optional

from mmengine.hooks import Hook

from segkit.datasets import BaseSegDataset
from segkit.datasets.data_check import check_masks
from segkit.registry import HOOKS
from segkit.utils.console import CONSOLE


@HOOKS.register_module()
class DataCheckHook(Hook):
    """Check the training and validation masks before the first iteration,
    and the ignored share of the first training batches.

    Before training, :func:`~segkit.datasets.data_check.check_masks` reads a
    sample of each set's masks: values or colours that map to no class, and
    0/255 masks whose 255 would be ignored, stop the run with one line
    naming the fix; how ``FolderSegDataset`` reads 255 by default and
    classes with no pixels are said on the console. Then, over the first
    ``batches`` batches as the pipeline makes them (crops included), more
    than ``max_ignored`` of the pixels at ``ignore_index`` is a warning: the
    model would learn from almost nothing.

    ``LOWEST`` priority: its lines come after ``ConsoleHook``'s summary.

    Args:
        batches: How many training batches to count ignored pixels in.
        max_ignored: The share of ignored pixels above which it warns.
    """

    priority = 'LOWEST'

    def __init__(self, batches: int = 3, max_ignored: float = 0.95) -> None:
        self.batches = batches
        self.max_ignored = max_ignored
        self._counted = self._ignored = self._pixels = 0
        self._ignore_index = 255

    def before_train(self, runner) -> None:
        started = time.perf_counter()
        read = []
        loaders = [('train', runner.train_dataloader)]
        if runner.val_loop is not None:
            loaders.append(('val', runner.val_dataloader))
        for split, loader in loaders:
            dataset = loader.dataset
            if not isinstance(dataset, BaseSegDataset):
                continue
            found = check_masks(dataset, split)
            read.append(f'{found.masks_read} {split}')
            for note in found.notes:
                runner.logger.info(note, extra=CONSOLE)
            for warning in found.warnings:
                runner.logger.warning(warning)
        if read:
            runner.logger.info(
                f'data check: {" and ".join(read)} masks read in '
                f'{time.perf_counter() - started:.2f} s')
        self._counted = self._ignored = self._pixels = 0
        self._ignore_index = getattr(runner.train_dataloader.dataset,
                                     'ignore_index', 255)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        if self._counted >= self.batches or not data_batch:
            return
        for sample in data_batch.get('data_samples', ()):
            labels = sample.gt_sem_seg.data
            self._ignored += int((labels == self._ignore_index).sum())
            self._pixels += labels.numel()
        self._counted += 1
        counted = self._counted
        if counted < self.batches and runner.iter + 1 < runner.max_iters:
            return
        self._counted = self.batches  # decided: count no more
        share = self._ignored / max(self._pixels, 1)
        if share > self.max_ignored:
            runner.logger.warning(
                f'{share:.1%} of the pixels of the first {counted} training '
                f'batches are ignore_index {self._ignore_index}: the model '
                'learns from almost nothing; check how the masks are read '
                '(tools/analyze_dataset.py CONFIG) and the crop size')
