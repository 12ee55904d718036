"""Training that fills a time budget instead of a fixed iteration count."""
import copy
import itertools
import statistics
import time
import warnings
from collections import deque
from typing import Any, Callable, Deque, List, Optional, Tuple

from mmengine.dist import broadcast_object_list, is_main_process
from mmengine.hooks import CheckpointHook, LoggerHook
from mmengine.runner import IterBasedTrainLoop
from mmengine.runner.utils import calc_dynamic_intervals

from segkit.registry import LOOPS
from segkit.utils import ConfigValueError
from segkit.utils.console import CONSOLE
from .schedule_scaling import (scale_interval, scale_span,
                               scale_val_interval)

#: The message hub's runtime info key of a budgeted run's plan; it is saved
#: in every checkpoint, so ``--resume`` continues the same plan.
BUDGET_KEY = 'time_budget'
# Iteration periods kept: a re-plan judges at most this many.
_KEPT_PERIODS = 10000


def _minutes(seconds: float) -> str:
    return f'{seconds / 60:.1f} min'


@LOOPS.register_module()
class TimeBudgetTrainLoop(IterBasedTrainLoop):
    """An iteration-based loop whose length is set by minutes.

    The config's ``max_iters`` and the schedule written for it (warm-up and
    decay, validation, checkpoint and log intervals) give the plan its
    shape. The loop times ``calibration_iters`` iterations after the first
    ``skip_iters`` (workers starting, first allocations), then sets
    ``max_iters`` so that the iterations, the validations and the
    checkpoints end inside ``minutes``, and scales the schedule by the same
    factor, as ``--cfg-options train_cfg.max_iters=N`` does: the run is the
    one a config written for that length would train.

    Every ``check_interval`` iterations it compares the speed with the
    plan's. When an iteration takes more than ``tolerance`` longer or
    shorter than planned (the machine slowed down or sped up) it plans
    again, at most ``replans`` times, not in the last tenth of the
    run and not before a window of periods after the data is warm (one
    pass over it, or a quarter of the run): the speed that counts is the
    median period of the last ``tolerance`` of the budget, so that a spike,
    a slow patch shorter than half that, or the first pass's cold reads do
    not re-plan the run. Past that, it only shortens the run, so that the last
    validation and checkpoint still end inside the budget. It shortens at
    the last check before the iteration it stops after, on the speed then:
    a slow patch that passes earlier (another job, a checkpoint save) costs
    its own seconds, not the iterations it would have cut from the rest of
    the run. A validation is estimated to cost twice what training costs
    per image until one has been timed; the first timed one corrects the
    plan without counting as a re-plan.

    The plan and the minutes used are saved in every checkpoint, so a
    resumed run continues the same schedule with what is left of the
    budget (and may plan again once, for the machine it now runs on).

    Args:
        runner: The runner.
        dataloader: The training dataloader (or its config).
        minutes: The budget, from the first iteration to the end of the
            last validation and checkpoint (start-up before the loop and a
            later test run are not counted).
        max_iters: The run length the schedule is written for.
        val_begin, val_interval: As :class:`IterBasedTrainLoop`'s, for
            ``max_iters``; the interval scales with the plan, and after a
            new plan the next validation is at least half an interval
            after the last.
        calibration_iters: Iterations timed before the first plan.
        skip_iters: Iterations not timed at the start.
        check_interval: Iterations between two checks of the projection
            (a check is where all ranks agree, by one broadcast).
        replans: How many times the plan may be made again: a slow-down
            that re-plans the run shorter is planned back once it passes.
        tolerance: How far an iteration's seconds may drift from the
            plan's, as a share of them, before the loop plans again; the
            speed is judged on the last ``tolerance`` of the budget.
        margin: Share of the budget a plan leaves unused, for noise.
        clock: Seconds, monotonic; tests pass a simulated one.
    """

    def __init__(self,
                 runner,
                 dataloader,
                 minutes: float,
                 max_iters: int,
                 val_begin: int = 1,
                 val_interval: int = 1000,
                 calibration_iters: int = 20,
                 skip_iters: int = 5,
                 check_interval: int = 10,
                 replans: int = 3,
                 tolerance: float = 0.1,
                 margin: float = 0.03,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if (not isinstance(minutes, (int, float)) or isinstance(minutes, bool)
                or minutes <= 0):
            raise ConfigValueError(f'train_cfg.minutes={minutes!r}: expected '
                                   'a number of minutes > 0')
        super().__init__(runner, dataloader, max_iters, val_begin,
                         val_interval)
        self.minutes = minutes
        self.budget = 60.0 * minutes
        self.calibration_iters = max(1, calibration_iters)
        self.skip_iters = max(0, skip_iters)
        self.check_interval = max(1, check_interval)
        self.replans = replans
        self.tolerance = tolerance
        self.margin = margin
        self.clock = clock
        self._nominal_iters = self._max_iters
        self._nominal_val_interval = val_interval
        self._config_val_begin = val_begin
        self._last_validation = 0  # the iteration it followed
        # The scheduler configs, before the Runner builds them (the train
        # loop is built first): a plan rebuilds them at its length.
        self._scheduler_cfg = copy.deepcopy(runner.param_schedulers)
        self._hook_intervals: List[Tuple[Any, int]] = []
        self._start = 0.0
        self._iter_started: Optional[float] = None
        self._validation_due = False
        self._timed = 0  # iteration periods seen, skipped ones included
        # The latest periods, enough to cover the re-plan's judging window
        # (``tolerance`` of the budget) on a fast machine.
        self._periods: Deque[float] = deque(maxlen=_KEPT_PERIODS)
        self._val_seconds: Optional[float] = None
        self._planned = False
        self._validation_timed = False
        self._replans_left = replans
        # Seconds an iteration the plan was made for (rank 0 decides).
        self._plan_rate: Optional[float] = None

    # -- the loop ---------------------------------------------------------

    def run(self) -> Any:
        self._start = self.clock()
        self._hook_intervals = [
            (hook, hook.interval) for hook in self.runner.hooks
            if isinstance(hook, LoggerHook) or (
                isinstance(hook, CheckpointHook) and not hook.by_epoch)]
        resumed = self.runner.message_hub.get_info(BUDGET_KEY)
        if self._iter > 0 and resumed:
            self._start -= resumed['elapsed']
            self._val_seconds = resumed['validation_seconds']
            self._validation_timed = self._val_seconds is not None
            self._set_length(resumed['max_iters'], schedulers=False)
            self._planned = True
            self._say(f'time budget: {_minutes(resumed["elapsed"])} of '
                      f'{_minutes(self.budget)} used before the resume; '
                      f'{resumed["max_iters"]} iterations planned')
        model = super().run()
        self._say(f'time budget: {self._iter} iterations in '
                  f'{_minutes(self.clock() - self._start)} of '
                  f'{_minutes(self.budget)}')
        return model

    def run_iter(self, data_batch) -> None:
        now = self.clock()
        if self._iter_started is not None:
            self._time_period(now - self._iter_started)
        self._iter_started = now
        # What a checkpoint of this iteration records: the time used once
        # it ends (its checkpoint is saved before any validation after it,
        # which a resume does not repeat).
        self.runner.message_hub.update_info(BUDGET_KEY, dict(
            minutes=self.minutes, max_iters=self._max_iters,
            elapsed=now - self._start + self._iteration_seconds(),
            validation_seconds=self._val_seconds))
        super().run_iter(data_batch)
        if self._iter < self._max_iters and self._check_due():
            self._settle(self.clock() - self._start)
        # IterBasedTrainLoop.run's rule, for the validation that may follow
        # (after any new plan's interval).
        self._validation_due = (
            self.runner.val_loop is not None and self._iter >= self.val_begin
            and (self._iter % self.val_interval == 0
                 or self._iter == self._max_iters))
        if self._validation_due:
            self._last_validation = self._iter

    # -- measuring --------------------------------------------------------

    def _time_period(self, period: float) -> None:
        """Record the time from one iteration's start to the next one's:
        data, step, hooks, and a validation if one ran in between."""
        if self._validation_due:
            self._val_seconds = max(0.0, period - self._iteration_seconds())
        elif self._timed >= self.skip_iters:
            self._periods.append(period)
        self._timed += 1

    def _iteration_seconds(self, count: Optional[int] = None,
                           typical: bool = False) -> float:
        """Mean (or with ``typical`` median) seconds an iteration, over
        the last ``count`` periods (by default ``calibration_iters``)."""
        periods = list(itertools.islice(reversed(self._periods),
                                        count or self.calibration_iters))
        if not periods:
            return 0.0
        return (statistics.median if typical else statistics.fmean)(periods)

    def _judged_periods(self) -> int:
        """How many of the latest periods a re-plan judges the speed on:
        those of the last ``tolerance`` of the budget (at least a
        calibration's), so that a slow patch shorter than half that (the
        median stays the usual period), which moves the end by less than
        the tolerance, does not spend a re-plan."""
        seconds, count = 0.0, 0
        for period in reversed(self._periods):
            if seconds >= self.tolerance * self.budget:
                break
            seconds += period
            count += 1
        return max(count, self.calibration_iters)

    def _epoch_iters(self) -> int:
        """Iterations of one pass over the training data (0 unknown)."""
        try:
            return len(self.dataloader)
        except TypeError:
            return 0

    def _validation_estimate(self) -> float:
        """A validation's seconds: as timed, else twice the training cost of
        as many images (its workers start, panels are drawn; too much is
        corrected by the first timed one, too little could not be)."""
        if self._val_seconds is not None:
            return self._val_seconds
        val_loop = self.runner.val_loop
        if val_loop is None:
            return 0.0
        loader = val_loop.dataloader
        images = len(loader) * (loader.batch_size or 1)
        return 2 * images * self._iteration_seconds() / max(
            1, self.dataloader.batch_size or 1)

    def _validations_after(self, done: int, max_iters: int,
                           interval: int) -> int:
        """Validations after iteration ``done`` in a run of ``max_iters``
        that validates every ``interval`` and at its end."""
        if self.runner.val_loop is None:
            return 0
        first = max(done + 1, self.val_begin)
        count = max(0, max_iters // interval - (first - 1) // interval)
        return count + int(max_iters % interval != 0 and max_iters >= first)

    def _fitting_iters(self, elapsed: float, rate: float, margin: float,
                       rescaled: bool = True) -> int:
        """The longest run that ends inside the budget less ``margin`` at
        ``rate`` seconds an iteration and the validations' cost, its
        validation interval ``rescaled`` to its length or the current."""
        done = self._iter
        validation = self._validation_estimate()
        available = self.budget * (1 - margin) - elapsed

        def cost(max_iters: int) -> float:
            interval = scale_val_interval(
                self._nominal_val_interval, self._nominal_iters,
                max_iters) if rescaled else self.val_interval
            return ((max_iters - done) * rate + validation *
                    self._validations_after(done, max_iters, interval))

        low = done + 1
        high = done + 1 + int(max(0.0, available) / max(rate, 1e-9))
        while low < high:  # the largest length whose cost fits
            middle = (low + high + 1) // 2
            if cost(middle) <= available:
                low = middle
            else:
                high = middle - 1
        return low

    # -- deciding ---------------------------------------------------------

    def _check_due(self) -> bool:
        """Every rank checks at the same iterations."""
        if not self._planned and len(self._periods) >= self.calibration_iters:
            return True
        return bool(self._periods) and self._iter % self.check_interval == 0

    def _settle(self, elapsed: float) -> None:
        """Plan, plan again or stop earlier, as rank 0 decides."""
        decision = [self._decide(elapsed) if is_main_process() else None]
        broadcast_object_list(decision)
        if decision[0] is not None:
            kind, max_iters, reason = decision[0]
            if kind == 'stop':
                self._max_iters = max_iters
                self.val_begin = min(self.val_begin, max_iters)
            else:
                self._set_length(max_iters, schedulers=True)
                self._planned = True
                self._replans_left -= kind == 'replan'
            self._say(f'time budget: {reason}')
        # Whether the plan now stands on a timed validation (every rank
        # times its validations at the same iterations).
        self._validation_timed = self._val_seconds is not None

    def _decide(self, elapsed: float) -> Optional[Tuple[str, int, str]]:
        """``(kind, max_iters, reason)``: ``'plan'`` (the first, or its
        correction by the first timed validation), ``'replan'``,
        ``'stop'`` (shorten, schedule unchanged), or ``None``."""
        window, recent = (self._iteration_seconds(),
                          self._iteration_seconds(self.check_interval))
        validation = self._validation_estimate()
        timed = 'timed' if self._val_seconds is not None else 'estimated'

        def costs(rate: float) -> str:
            return (f'{rate:.2f} s an iteration, {validation:.0f} s a '
                    f'validation ({timed})')

        if not self._planned:
            if len(self._periods) < self.calibration_iters:
                return None
            fitting = self._fitting_iters(elapsed, window, self.margin)
            self._plan_rate = window
            return 'plan', fitting, (
                f'{costs(window)} -> {fitting} iterations in '
                f'{_minutes(self.budget)} '
                f'(the schedule, written for {self._nominal_iters}, is '
                f'scaled by {fitting / self._nominal_iters:.2f})')
        early = self._iter < 0.9 * self._max_iters
        # The first timed validation replaces the plan's estimate, at the
        # plan's speed (a change of speed is a re-plan's to judge): the
        # plan's completion, not one of its ``replans``.
        rate = self._plan_rate or window
        corrected = self._fitting_iters(elapsed, rate, self.margin)
        if early and not self._validation_timed and \
                self._val_seconds is not None and corrected != self._max_iters:
            return 'plan', corrected, (
                f'{costs(rate)} -> {corrected} iterations instead of '
                f'{self._max_iters}')
        # A change of speed shows in the latest periods first; it counts
        # once the typical (median) period of the judged window agrees, so
        # that a spike or a short slow patch (a checkpoint save, a stall) is
        # not one, and once the data is warm: the first pass reads every
        # file cold.
        judged, latest = (self._iteration_seconds(count, typical=True)
                          for count in (self._judged_periods(),
                                        self.check_interval))
        warm = self._iter >= self.calibration_iters + min(
            self._epoch_iters(), self._max_iters // 4)
        if (early and warm and self._replans_left > 0
                and self._off(judged, rate) and self._off(latest, rate)
                and (judged > rate) == (latest > rate)):
            replanned = self._fitting_iters(elapsed, judged, self.margin)
            self._plan_rate = judged
            return 'replan', replanned, (
                f'now {costs(judged)} -> {replanned} iterations instead of '
                f'{self._max_iters}, to end inside {_minutes(self.budget)}')
        last = self._fitting_iters(elapsed, max(window, recent), 0.0,
                                   rescaled=False)
        # Shortening waits for the last check before ``last``: the speed
        # measured then decides, and a slow patch before it cuts nothing.
        if last < self._max_iters and last < self._iter + self.check_interval:
            return 'stop', last, (
                f'{costs(recent)}: stopping after iteration {last} of '
                f'{self._max_iters}, so that the last validation and '
                f'checkpoint end inside {_minutes(self.budget)}')
        return None

    def _off(self, seconds: float, planned: float) -> bool:
        """An iteration of ``seconds`` is further than ``tolerance`` from
        the ``planned`` seconds: the speed changed. (Judged on the speed,
        not on the run's projected end, which a change half-way moves by
        half as much.)"""
        return abs(seconds - planned) > self.tolerance * planned

    # -- acting -----------------------------------------------------------

    def _set_length(self, max_iters: int, schedulers: bool) -> None:
        """Run ``max_iters`` iterations, the schedule scaled to them from
        the length it is written for; ``schedulers=False`` leaves the
        parameter schedulers as they are (restored by a resume)."""
        nominal = self._nominal_iters
        self._max_iters = max_iters
        self.val_interval = scale_val_interval(self._nominal_val_interval,
                                               nominal, max_iters)
        # A new interval's next multiple may come a few iterations after
        # the last validation: the next one waits half an interval (but
        # the run's end is always validated).
        self.val_begin = min(max_iters, max(
            self._config_val_begin,
            self._last_validation + self.val_interval // 2))
        self.dynamic_milestones, self.dynamic_intervals = \
            calc_dynamic_intervals(self.val_interval)
        for hook, interval in self._hook_intervals:
            hook.interval = scale_interval(interval, nominal, max_iters)
        if schedulers and self._scheduler_cfg:
            self._rebuild_schedulers(max_iters)

    def _rebuild_schedulers(self, max_iters: int) -> None:
        """The parameter schedulers a run of ``max_iters`` would have built,
        stepped to this iteration: the values at every step are those of
        a config written for that length.

        By-epoch schedulers (``ReduceOnPlateauLR``, stepped by validation
        scores) do not depend on ``max_iters`` and are never stepped by
        iterations: the running ones are kept with their state. A cut such
        a scheduler made before a re-plan is undone by the reset to the
        initial values."""
        configs = copy.deepcopy(self._scheduler_cfg)
        for scheduler in (configs if isinstance(configs, list) else
                          [configs]):
            if isinstance(scheduler, dict) and not scheduler.get(
                    'by_epoch', True):
                scheduler['begin'], scheduler['end'] = scale_span(
                    scheduler.get('begin', 0), scheduler.get('end'),
                    self._nominal_iters, max_iters)
        for group in self.runner.optim_wrapper.param_groups:
            for key in [k for k in group if k.startswith('initial_')]:
                group[key[len('initial_'):]] = group[key]
        running = self.runner.param_schedulers
        rebuilt = self.runner.build_param_scheduler(configs)
        pairs = ([(running[name], rebuilt[name]) for name in rebuilt]
                 if isinstance(rebuilt, dict) else [(running, rebuilt)])
        with warnings.catch_warnings():  # steps without optimizer steps
            warnings.simplefilter('ignore')
            for kept, schedulers in pairs:
                for _ in range(self._iter):
                    for scheduler in schedulers:
                        if not scheduler.by_epoch:
                            scheduler.step()
                schedulers[:] = [old if new.by_epoch else new
                                 for old, new in zip(kept, schedulers)]
        self.runner.param_schedulers = rebuilt

    def _say(self, message: str) -> None:
        self.runner.logger.info(message, extra=CONSOLE)
