"""A default training iteration reads nothing back from the device: the
losses and the non-finite-loss flag wait on the device for the next log
point (issue 25). Counted on the CPU by
``device_reads.DeviceReadCounter``; tests/cuda/test_cuda_no_sync.py runs
the same iterations under ``torch.cuda.set_sync_debug_mode('error')``."""
from pathlib import Path

import pytest
import torch
from device_reads import DeviceReadCounter, mark_on_device
from mmengine.hooks import Hook

from segkit.apis import load_config
from segkit.registry import RUNNERS

REPO = Path(__file__).resolve().parents[2]
LOG_INTERVAL = 10
FIRST, LAST = 3, 23  # counted iterations (0-based), two log points among
MAX_READS_PER_ITER = 0.5


class _Counted(Exception):
    """Ends the run once the counted iterations are done."""


class CountSteadyIterations(Hook):
    """Counts reads from iteration ``FIRST`` (warm-up before) to ``LAST``
    (exclusive), from before every hook to after every hook."""

    priority = 'HIGHEST'

    def __init__(self, counter: DeviceReadCounter) -> None:
        self.counter = counter

    def before_train(self, runner) -> None:
        mark_on_device(list(runner.model.parameters()),
                       list(runner.model.buffers()))
        runner.model.data_preprocessor.register_forward_hook(
            lambda module, args, batch: mark_on_device(batch))

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter == LAST:
            raise _Counted
        self.counter.counting = runner.iter >= FIRST


class StopCounting(Hook):
    priority = 'LOWEST'

    def __init__(self, counter: DeviceReadCounter) -> None:
        self.counter = counter

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.counter.counting = False


def test_the_counter_sees_device_reads_and_only_those():
    weight = torch.ones(3, requires_grad=True)
    host = torch.arange(3.)
    mark_on_device(weight)
    with DeviceReadCounter() as counter:
        counter.counting = True
        loss = (weight * host).sum()
        loss.item()
        bool(loss.detach() > 0)
        loss.detach().tolist()
        host.tolist()
        int(host[0])
    assert counter.total == 3, counter.report()


@pytest.mark.slow  # a real training run
def test_a_default_training_iteration_reads_nothing_back(tmp_path):
    """The quick config, tiny, with its default hooks, fp32 (or bf16
    autocast where the CPU has it): at most ``MAX_READS_PER_ITER`` reads
    per steady iteration, counting those of the log points (a run that
    read its losses every iteration made 3 or more, one that read the
    non-finite flag every iteration 1)."""
    cfg = load_config(
        str(REPO / 'configs' / 'unet_camvid_quick.py'), {
            'data_root': str(REPO / 'data' / 'camvid_sample'),
            'model.backbone.base_channels': 4,
            'train_cfg.max_iters': 1000,  # piped progress every 100
            'train_cfg.val_interval': 1000,
            'default_hooks.logger.interval': LOG_INTERVAL,
            'default_hooks.checkpoint.interval': 1000,
            'train_dataloader.num_workers': 0,
            'train_dataloader.persistent_workers': False,
        },
        work_dir=str(tmp_path / 'work'))
    runner = RUNNERS.build(cfg)
    counter = DeviceReadCounter()
    runner.register_hook(CountSteadyIterations(counter))
    runner.register_hook(StopCounting(counter))
    with counter, pytest.raises(_Counted):
        runner.train()

    per_iteration = counter.total / (LAST - FIRST)
    assert per_iteration <= MAX_READS_PER_ITER, (
        f'{per_iteration:.2f} device reads per training iteration:\n'
        + counter.report())
