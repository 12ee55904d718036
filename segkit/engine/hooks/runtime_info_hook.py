"""MMEngine's ``RuntimeInfoHook`` with the training losses kept on the
device until something reads them."""
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Tuple

import torch
from mmengine.hooks import RuntimeInfoHook

from segkit.registry import HOOKS


@HOOKS.register_module()
class DeferredRuntimeInfoHook(RuntimeInfoHook):
    """``RuntimeInfoHook`` that reads the training outputs back in batches.

    MMEngine's hook calls ``message_hub.update_scalar('train/<key>',
    value)`` for every output of every iteration, and ``update_scalar``
    turns a tensor into a float with ``Tensor.item()``: one host-device
    synchronisation per loss term and iteration. This hook keeps each
    tensor output (detached) in a queue instead, and hands the queue to
    ``update_scalar`` in order, as floats from one read-back, just before
    anything reads the message hub's scalars: the log processor (each
    logged iteration and validation), ``message_hub.get_scalar`` of a
    queued key, and
    ``message_hub.state_dict`` (checkpoints). The ``HistoryBuffer`` s then
    hold the values, counts and order they would have held, so the logged
    averages, ``scalars.json`` and checkpoints are unchanged; between two
    reads, training iterations do not wait for the device.

    Reading ``message_hub.log_scalars`` directly bypasses the queue and
    sees the values as of the last read. ``flush`` empties the queue by
    hand.
    """

    def __init__(self) -> None:
        self._pending: List[Tuple[str, torch.Tensor]] = []
        self._runner = None

    def before_run(self, runner) -> None:
        super().before_run(runner)
        if self._runner is runner:  # train() then val(): wrapped already
            return
        self._runner = runner
        hub, processor = runner.message_hub, runner.log_processor
        for owner, name in ((hub, 'state_dict'),
                            (processor, 'get_log_after_iter'),
                            (processor, 'get_log_after_epoch')):
            setattr(owner, name, self._flushing(getattr(owner, name)))
        get_scalar = hub.get_scalar

        def flushed_get_scalar(key: str):
            # IterTimerHook reads 'train/time' every iteration: that one
            # is never queued, and must not empty the queue.
            if any(key == queued for queued, _ in self._pending):
                self.flush()
            return get_scalar(key)

        hub.get_scalar = flushed_get_scalar

    def _flushing(self, read: Callable) -> Callable:
        """``read``, called after the queue is emptied."""

        def flushed_read(*args, **kwargs):
            self.flush()
            return read(*args, **kwargs)

        return flushed_read

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        for key, value in (outputs or {}).items():
            if isinstance(value, torch.Tensor):
                self._pending.append((f'train/{key}', value.detach()))
            else:
                runner.message_hub.update_scalar(f'train/{key}', value)

    def after_train(self, runner) -> None:
        self.flush()

    def flush(self) -> None:
        """Write the queued outputs into the message hub: one read-back per
        device the values are on."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        by_device: Dict[torch.device, List[int]] = defaultdict(list)
        for index, (_, value) in enumerate(pending):
            by_device[value.device].append(index)
        values: List[float] = [0.0] * len(pending)
        for indices in by_device.values():
            stacked = torch.stack([
                pending[i][1].reshape(()).to(torch.float64) for i in indices
            ])
            for i, number in zip(indices, stacked.tolist()):
                values[i] = (number if pending[i][1].is_floating_point()
                             else int(number))
        update = self._runner.message_hub.update_scalar
        for (key, _), value in zip(pending, values):
            update(key, value)
