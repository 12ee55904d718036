"""Copy and preprocess the next training batch on a side CUDA stream while
the current step runs."""
from typing import Any, Iterator, List, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop
from mmengine.structures import BaseDataElement

from segkit.registry import HOOKS
from segkit.structures import PREFETCHED_KEY


def _tensors(batch: Any) -> List[torch.Tensor]:
    """The tensors of a preprocessed batch: inputs and the samples' data
    fields (a ground-truth mask is a ``PixelData`` of one tensor)."""
    found = [batch['inputs']]
    for sample in batch.get('data_samples') or ():
        for value in sample.values():
            fields = (value.values() if isinstance(value, BaseDataElement)
                      else [value])
            found += [v for v in fields if isinstance(v, torch.Tensor)]
    return found


class DevicePrefetcher:
    """The training loop's batch iterator, handing out batches that
    :meth:`prefetch` already preprocessed, each under
    :data:`~segkit.structures.PREFETCHED_KEY` of its own raw batch (which
    hooks see as ever), and raw batches when none was prefetched (the
    first, and those a resume skips): the preprocessor then runs in
    ``train_step`` as usual.

    Args:
        batches: the loop's iterator of raw batches.
        preprocessor: the model's data preprocessor.
        stream: the CUDA stream to preprocess on; ``None`` on a CPU.
    """

    def __init__(self, batches: Iterator, preprocessor: torch.nn.Module,
                 stream: Optional['torch.cuda.Stream']) -> None:
        self.batches = batches
        self.preprocessor = preprocessor
        self.stream = stream
        self._ahead: Optional[dict] = None

    def __iter__(self) -> 'DevicePrefetcher':
        return self

    def prefetch(self) -> None:
        """Fetch the next raw batch and queue its copy to the device and
        its preprocessing on the side stream, without waiting for them."""
        batch = next(self.batches)
        if self.stream is None:
            batch[PREFETCHED_KEY] = self.preprocessor(batch, True)
        else:
            # The side stream must not start before the current step's
            # work queued so far, which may still use the buffers it reuses.
            self.stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.stream):
                batch[PREFETCHED_KEY] = self.preprocessor(batch, True)
        self._ahead = batch

    def __next__(self) -> dict:
        batch, self._ahead = self._ahead, None
        if batch is None:
            return next(self.batches)
        if self.stream is not None:
            current = torch.cuda.current_stream()
            current.wait_stream(self.stream)
            for tensor in _tensors(batch[PREFETCHED_KEY]):
                # Made on the side stream, used on this one: the caching
                # allocator must not hand the memory out before this
                # stream is done with it.
                tensor.record_stream(current)
        return batch


@HOOKS.register_module()
class DevicePrefetchHook(Hook):
    """Overlap the next batch's host-to-device copy and preprocessing
    (normalisation, padding, channels_last) with the current step.

    After each training iteration's other hooks, the next batch is fetched
    and its preprocessing queued on a side CUDA stream, so that it runs
    while the GPU still works through the step just launched; the loop's
    next ``train_step`` finds it ready (:class:`DevicePrefetcher`). The
    dataloaders pin memory on CUDA (``segkit.apis.load_config``), so the
    copy does not block. Results are those of the unprefetched path.

    Args:
        enabled: ``None`` (default): where the model is on a CUDA device.
            ``True`` prefetches on a CPU too (one batch ahead, on the same
            thread: no faster, for tests).
    """

    priority = 'LOWEST'

    def __init__(self, enabled: Optional[bool] = None) -> None:
        self.enabled = enabled
        self._prefetcher: Optional[DevicePrefetcher] = None

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        device = next(model.parameters()).device
        enabled = (device.type == 'cuda'
                   if self.enabled is None else self.enabled)
        loop = runner.train_loop
        if not enabled or not isinstance(loop, IterBasedTrainLoop):
            return
        self._prefetcher = DevicePrefetcher(
            loop.dataloader_iterator, model.data_preprocessor,
            torch.cuda.Stream(device) if device.type == 'cuda' else None)
        loop.dataloader_iterator = self._prefetcher

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        if self._prefetcher is not None and not self.is_last_train_iter(
                runner):
            self._prefetcher.prefetch()
