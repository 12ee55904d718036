"""The host time a Runner iteration costs beyond the bare loop's, hook by
hook: the CI-visible proxy for the time a GPU waits on the host."""
import tempfile
import time
from collections import defaultdict
from typing import Callable, Dict

from mmengine.config import Config
from mmengine.runner import Runner

from .runner import IterClock, runner_config
from .timing import Settings, Sync

#: The hook methods of a training iteration.
ITERATION_METHODS = ('before_train_iter', 'after_train_iter')


class HostClocks:
    """Host milliseconds spent in each hook's iteration methods and in
    ``train_step``, summed over the iterations after ``warmup``."""

    def __init__(self, clock: IterClock, warmup: int) -> None:
        self.clock = clock
        self.warmup = warmup
        self.seconds: Dict[str, float] = defaultdict(float)
        # The hooks' before_train_iter time, which the clock's data wait
        # (from one iteration's end to its own before_train_iter) includes.
        self.before_iter_seconds = 0.0

    def timed(self, name: str, method: Callable,
              before_iter: bool = False) -> Callable:
        """``method``, its time added to ``name`` in timed iterations."""

        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                if len(self.clock.ends) >= self.warmup:
                    seconds = time.perf_counter() - start
                    self.seconds[name] += seconds
                    if before_iter:
                        self.before_iter_seconds += seconds

        return run

    def install(self, runner: Runner) -> None:
        """Time every hook but the clock, and the model's ``train_step``
        (data preprocessing, forward, backward, step)."""
        for hook in runner.hooks:
            if hook is self.clock:
                continue
            for method in ITERATION_METHODS:
                setattr(hook, method,
                        self.timed(type(hook).__name__,
                                   getattr(hook, method),
                                   method == 'before_train_iter'))
        runner.model.train_step = self.timed('train_step',
                                             runner.model.train_step)


def runner_overhead(cfg: Config, settings: Settings, sync: Sync,
                    bare_loop_ms: float) -> dict:
    """Milliseconds per training iteration through the Runner, split into
    ``train_step``, each hook, the wait for data and the rest (the loop's
    own code), against ``bare_loop_ms`` of the bare loop on the same
    model. Iterations are timed over all repeats after the warm-up, with
    the device synchronised at the ends only."""
    flat = Settings(settings.warmup, settings.iters * settings.repeats, 1,
                    settings.infer_batch)
    with tempfile.TemporaryDirectory(prefix='segkit_overhead_') as work_dir:
        runner = Runner.from_cfg(runner_config(cfg, flat, work_dir))
        clock = IterClock(sync, flat)
        runner.register_hook(clock)
        clocks = HostClocks(clock, flat.warmup)
        clocks.install(runner)
        runner.train()
    iterations = flat.iters
    per_iteration = {name: 1000 * seconds / iterations
                     for name, seconds in clocks.seconds.items()}
    iteration_ms = 1000 * clock.timed_seconds(flat.warmup) / iterations
    data_wait_ms = 1000 * (clock.between_seconds(flat.warmup) -
                           clocks.before_iter_seconds) / iterations
    train_step_ms = per_iteration.pop('train_step')
    hooks_ms = dict(sorted(per_iteration.items(), key=lambda kv: -kv[1]))
    return dict(
        iterations=iterations, iteration_ms=iteration_ms,
        bare_loop_ms=bare_loop_ms, overhead_ms=iteration_ms - bare_loop_ms,
        train_step_ms=train_step_ms, data_wait_ms=data_wait_ms,
        hooks_ms=hooks_ms,
        loop_ms=(iteration_ms - train_step_ms - data_wait_ms -
                 sum(hooks_ms.values())))
