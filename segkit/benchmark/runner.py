"""Training through MMEngine's Runner, timed iteration by iteration."""
import copy
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import List, Optional

import torch
from mmengine.config import Config
from mmengine.hooks import Hook, ProfilerHook
from mmengine.runner import Runner

from segkit.utils import atomic_write
from .timing import Settings, Sync, repeat_rates, summary, window_ends

# Custom hooks that write files; the Runner benchmark leaves them out.
OUTPUT_HOOKS = ('SegVisHook', 'ReportHook')


class IterClock(Hook):
    """Records when each training iteration starts (its batch loaded) and
    ends (every other hook done), and how many images it had. The device
    is synchronised only at the ends of the timed windows
    (:func:`~segkit.benchmark.timing.window_ends`), so that the Runner's
    overlap of host and device work shows, as the bare loop's does. The
    data wait is host time: from the end of one iteration's hooks to the
    next batch, which needs no sync."""
    priority = 'LOWEST'

    def __init__(self, sync: Sync, settings: Settings) -> None:
        self.sync = sync
        self.synced = window_ends(settings)
        self.starts: List[float] = []
        self.ends: List[float] = []
        self.images: List[int] = []

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        self.starts.append(time.perf_counter())

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if len(self.ends) in self.synced:
            self.sync()
        self.ends.append(time.perf_counter())
        self.images.append(len(data_batch['inputs']))

    def timed_seconds(self, warmup: int) -> float:
        """Seconds from the end of the warm-up to the last iteration's."""
        return self.ends[-1] - self.ends[warmup - 1]

    def between_seconds(self, warmup: int) -> float:
        """Seconds of the timed iterations from the end of one to the start
        of the next: the wait for its batch and its other hooks'
        ``before_train_iter``."""
        return sum(self.starts[i] - self.ends[i - 1]
                   for i in range(warmup, len(self.ends)))

    def data_wait_fraction(self, warmup: int) -> float:
        """Share of the timed iterations' time spent waiting for a batch."""
        return self.between_seconds(warmup) / self.timed_seconds(warmup)


def runner_config(cfg: Config, settings: Settings, work_dir: str) -> Config:
    """``cfg`` for exactly the warm-up and timed iterations, with nothing
    between them but training: no validation, no checkpoints, panels or
    report, no log lines, and a non-finite loss skipped, not fatal."""
    cfg = copy.deepcopy(cfg)
    total = settings.warmup + settings.iters * settings.repeats
    cfg.work_dir = work_dir
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=total)
    for split in ('val', 'test'):
        for part in ('dataloader', 'cfg', 'evaluator'):
            cfg[f'{split}_{part}'] = None
    cfg.default_hooks.checkpoint = None
    # A non-finite loss of an untrained net (seen once in bf16 at the
    # second iteration of the paper U-Net) skips its step here instead of
    # stopping a measurement of speed.
    if cfg.default_hooks.get('nonfinite_loss'):
        cfg.default_hooks.nonfinite_loss.skip_nonfinite = True
    if cfg.default_hooks.get('logger'):
        cfg.default_hooks.logger.interval = total + 1
    cfg.custom_hooks = [hook for hook in cfg.get('custom_hooks', [])
                        if hook.get('type') not in OUTPUT_HOOKS]
    cfg.log_level = 'WARNING'
    cfg.resume, cfg.load_from = False, None
    return cfg


def runner_train(cfg: Config, settings: Settings, sync: Sync) -> dict:
    """Images/s of full training iterations through MMEngine's Runner, data
    loading from the real dataset included."""
    with tempfile.TemporaryDirectory(prefix='segkit_benchmark_') as work_dir:
        runner = Runner.from_cfg(runner_config(cfg, settings, work_dir))
        clock = IterClock(sync, settings)
        runner.register_hook(clock)
        runner.train()
    rates = repeat_rates(clock.ends, clock.images, settings.warmup,
                         settings.iters, settings.repeats)
    return summary(rates,
                   data_wait_fraction=clock.data_wait_fraction(
                       settings.warmup))


def profile_runner(cfg: Config, settings: Settings, out_prefix: str) -> None:
    """Profile ``settings.iters`` training iterations through the Runner,
    after ``settings.warmup`` + 1 unprofiled ones, with MMEngine's
    ``ProfilerHook`` (``torch.profiler``): where an iteration's time goes
    beyond the bare loop's (hooks, data preprocessing, host syncs).

    Writes ``<out_prefix>.txt``, the operators by self CPU time (and self
    CUDA time on a GPU), and ``<out_prefix>.json``, a Chrome trace for
    ``chrome://tracing`` or Perfetto.
    """
    cuda = torch.cuda.is_available()
    Path(out_prefix).parent.mkdir(parents=True, exist_ok=True)
    # One more untimed iteration: the profiler's own warm-up.
    profiled = dataclasses.replace(settings, warmup=settings.warmup + 1,
                                   repeats=1)
    total = profiled.warmup + profiled.iters
    with tempfile.TemporaryDirectory(prefix='segkit_profile_') as work_dir:
        run = runner_config(cfg, profiled, work_dir)
        run.custom_hooks.append(dict(
            type='ProfilerHook', by_epoch=False, profile_times=total,
            activity_with_cuda=cuda,
            schedule=dict(wait=profiled.warmup - 1, warmup=1,
                          active=profiled.iters),
            json_trace_path=f'{out_prefix}.json'))
        runner = Runner.from_cfg(run)
        runner.train()
    hook = next(h for h in runner.hooks if isinstance(h, ProfilerHook))
    events = hook.profiler.key_averages()
    sort_keys = ['self_cpu_time_total'] + (['self_cuda_time_total']
                                           if cuda else [])
    tables = '\n\n'.join(
        f'{profiled.iters} iterations, sorted by {key}\n' +
        events.table(sort_by=key, row_limit=40) for key in sort_keys)
    atomic_write(f'{out_prefix}.txt', (tables + '\n').encode())
