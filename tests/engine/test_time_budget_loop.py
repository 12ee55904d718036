"""TimeBudgetTrainLoop on a simulated clock: the tiny runner really trains,
and a hook moves the clock as a machine of a given speed would."""
from pathlib import Path
from typing import Callable, Dict, List

import pytest
from mmengine.hooks import CheckpointHook, Hook

from segkit.engine.time_budget_loop import BUDGET_KEY
from segkit.utils import ConfigValueError

NOMINAL = 100  # the schedule's written length
BUDGET_MINUTES = 1.0


class Machine(Hook):
    """Advances the clock by each iteration's and validation's seconds,
    and records the learning rate every iteration saw."""

    priority = 'LOWEST'

    def __init__(self, seconds_per_iter: Callable[[int], float],
                 validation_seconds: float = 2.0):
        self._now = [0.0]
        self.seconds_per_iter = seconds_per_iter
        self.validation_seconds = validation_seconds
        self.lrs: List[float] = []
        self.validations: List[int] = []
        now = self._now
        # A closure, not a bound method: the Runner deep-copies train_cfg,
        # and a copied Machine would keep its own time.
        self.clock = lambda: now[0]

    @property
    def now(self) -> float:
        return self._now[0]

    @now.setter
    def now(self, seconds: float) -> None:
        self._now[0] = seconds

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.lrs.append(runner.optim_wrapper.param_groups[0]['lr'])

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.now += self.seconds_per_iter(runner.iter)

    def after_val_epoch(self, runner, metrics=None):
        self.now += self.validation_seconds
        self.validations.append(runner.iter)


def infinite_loader(dataset) -> Dict:
    # InfiniteSampler: MMEngine sleeps 2 s at every restart of a finite one.
    return dict(dataset=dataset, batch_size=2,
                sampler=dict(type='InfiniteSampler', shuffle=True),
                collate_fn=dict(type='default_collate'))


def budget_cfg(machine: Machine, dataset, **loop) -> Dict:
    return dict(
        train_dataloader=infinite_loader(dataset),
        train_cfg=dict(type='TimeBudgetTrainLoop', minutes=BUDGET_MINUTES,
                       max_iters=NOMINAL, val_interval=25,
                       calibration_iters=10, skip_iters=2, check_interval=5,
                       clock=machine.clock, **loop),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.5, by_epoch=False, end=10),
            dict(type='PolyLR', by_epoch=False, begin=10, end=NOMINAL)],
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', by_epoch=False,
                            interval=50),
            logger=dict(type='LoggerHook', interval=10)),
        custom_hooks=[machine])


@pytest.fixture
def config(tiny_dataset_cls):
    """``budget_cfg`` for a machine, over the tiny runner's data."""
    return lambda machine, **loop: budget_cfg(machine, tiny_dataset_cls(),
                                              **loop)


@pytest.fixture
def train(make_runner, config, tmp_path):
    """Train a budgeted run on ``machine`` in ``tmp_path/<name>``."""

    def run(machine: Machine, name: str = 'work', **loop):
        runner = make_runner(work_dir=tmp_path / name,
                             **config(machine, **loop))
        runner.train()
        return runner

    return run


@pytest.mark.parametrize('seconds_per_iter', [0.5, 0.25])
def test_a_machine_of_either_speed_fills_the_budget_with_a_scaled_schedule(
        train, seconds_per_iter):
    machine = Machine(lambda _: seconds_per_iter)
    runner = train(machine)
    loop = runner.train_loop
    done = runner.iter
    budget = 60 * BUDGET_MINUTES
    # Inside the budget, and not far from filling it (the plan keeps 3 %).
    assert machine.now <= budget
    assert machine.now >= 0.9 * budget
    assert done == loop.max_iters
    # Four validations, as the schedule has at its written length, the last
    # one at the end: the last checkpoint is scored.
    assert len(machine.validations) == 4 and machine.validations[-1] == done
    assert loop.val_interval == round(25 * done / NOMINAL)
    poly = runner.param_schedulers[1]
    assert (poly.begin, poly.end) == (round(10 * done / NOMINAL), done)
    checkpoint_hook = next(h for h in runner.hooks
                           if isinstance(h, CheckpointHook))
    assert checkpoint_hook.interval == round(50 * done / NOMINAL)
    assert (Path(runner.work_dir) / f'iter_{done}.pth').is_file()


def test_the_faster_machine_trains_more_iterations(train):
    fast = train(Machine(lambda _: 0.25), 'fast').iter
    slow = train(Machine(lambda _: 0.5), 'slow').iter
    # (60 s - 3 % - 4 validations of 2 s) at 0.5 s an iteration: about 100.
    assert slow == pytest.approx(100, abs=4)
    assert fast > 1.9 * slow


def test_after_the_plan_the_learning_rate_is_a_fixed_length_runs(
        train, make_runner, tmp_path, tiny_dataset_cls):
    # A validation costs what the loop estimates before timing one (twice
    # 4 images at 0.25 s a batch of 2) and replans=0: the first plan stands.
    budgeted = Machine(lambda _: 0.25, validation_seconds=1.0)
    runner = train(budgeted, 'budgeted', replans=0)
    planned = runner.param_schedulers[1].end
    fixed = Machine(lambda _: 0.25)
    scaled_warmup = round(10 * planned / NOMINAL)
    make_runner(
        work_dir=tmp_path / 'f',
        train_dataloader=infinite_loader(tiny_dataset_cls()),
        train_cfg=dict(by_epoch=False, max_iters=planned, val_interval=1000),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.5, by_epoch=False,
                 end=scaled_warmup),
            dict(type='PolyLR', by_epoch=False, begin=scaled_warmup,
                 end=planned)],
        custom_hooks=[fixed]).train()
    plan_iteration = 2 + 10 + 1  # skipped, timed, and the one that planned
    length = min(len(budgeted.lrs), len(fixed.lrs))
    assert budgeted.lrs[plan_iteration:length] == pytest.approx(
        fixed.lrs[plan_iteration:length], rel=1e-9)
    assert budgeted.lrs[:plan_iteration] != pytest.approx(
        fixed.lrs[:plan_iteration], rel=1e-9)


def test_a_slow_down_half_way_plans_again_and_still_ends_inside(train):
    machine = Machine(lambda iteration: 0.25 if iteration < 100 else 0.75)
    runner = train(machine)
    assert machine.now <= 60 * BUDGET_MINUTES
    first_plan = 216  # what 0.25 s an iteration would have allowed
    assert 100 < runner.iter < first_plan * 0.8
    # The re-plan scaled the schedule to the new length; the slow-down
    # shows in the timings a few iterations late, so a stop for safety may
    # still cut the last few.
    planned = runner.param_schedulers[1].end
    assert 0 <= planned - runner.iter <= 0.05 * planned


def test_without_replans_a_slow_down_stops_early_inside_the_budget(train):
    machine = Machine(lambda iteration: 0.25 if iteration < 100 else 0.75)
    runner = train(machine, replans=0)
    assert machine.now <= 60 * BUDGET_MINUTES
    poly = runner.param_schedulers[1]
    assert runner.iter < poly.end  # stopped before the planned end
    assert machine.validations[-1] == runner.iter  # scored at the end


def test_a_passing_slow_down_costs_only_its_own_time(train):
    """Iterations 40 to 60 take four times as long (another job on the
    machine): the run is shortened by what that patch cost, at the end, on
    the speed then, not by the slow speed projected over the rest of the
    run, and ends near the budget."""
    machine = Machine(lambda iteration: 1.0 if 40 <= iteration < 60 else
                      0.25)
    runner = train(machine, replans=0)
    budget = 60 * BUDGET_MINUTES
    assert 0.9 * budget <= machine.now <= budget
    assert runner.iter <= runner.param_schedulers[1].end
    assert machine.validations[-1] == runner.iter  # scored at the end


def test_a_plan_ending_within_half_an_interval_still_validates_its_end(
        make_runner, config):
    # A validation at 90, then a plan of 100 (interval 25): the next
    # validation would wait until 102, past the end.
    loop = make_runner(**config(Machine(lambda _: 0.25))).train_loop
    loop._last_validation = 90
    loop._set_length(100, schedulers=False)
    assert loop.val_interval == 25 and loop.val_begin == 100


@pytest.mark.parametrize('faster_from', [100, 130])
def test_a_speed_up_half_way_is_planned_for(train, faster_from):
    """From half-way the machine is 16 % faster (0.25 -> 0.21 s), which
    moves the projected end by under 10 % of the run: it is the speed that
    counts, so the run re-plans and fills the budget (it used 54 to 55 of
    its 60 s when judged on the projected end)."""
    machine = Machine(lambda iteration: 0.25 if iteration < faster_from
                      else 0.21)
    runner = train(machine)
    assert runner.train_loop._replans_left == runner.train_loop.replans - 1
    assert 0.95 * 60 * BUDGET_MINUTES <= machine.now <= 60 * BUDGET_MINUTES
    assert machine.validations[-1] == runner.iter


@pytest.mark.parametrize('patch_end', [80, 100])
def test_a_slow_down_that_passes_after_a_re_plan_is_planned_back(
        train, patch_end):
    """Iterations 55 until ``patch_end`` take twice as long, 6 to 11 s, long
    enough to re-plan the run shorter; once the machine is fast again a
    second re-plan lengthens it back, so the run fills the budget (with
    one re-plan it ended at 45 to 50 of its 60 s)."""
    machine = Machine(lambda iteration: 0.5 if 55 <= iteration < patch_end
                      else 0.25)
    runner = train(machine)
    budget = 60 * BUDGET_MINUTES
    assert runner.train_loop._replans_left == runner.train_loop.replans - 2
    assert 0.9 * budget <= machine.now <= budget
    assert machine.validations[-1] == runner.iter


@pytest.mark.parametrize('slow_patch', [
    lambda iteration: 1.5 if iteration in (30, 31) else 0.25,  # spikes
    lambda iteration: 0.35 if 15 <= iteration < 40 else 0.25,  # cold pass
    # 3.2 s of another job, after the first pass: more than the 10 periods
    # of a calibration, less than half the 6 s (tolerance) judged
    lambda iteration: 0.4 if 60 <= iteration < 68 else 0.25,
])
def test_a_spike_a_short_slow_patch_or_a_cold_first_pass_does_not_plan_again(
        make_runner, tiny_dataset_cls, tmp_path, slow_patch):
    """Two 1.5 s iterations (checkpoint saves, say), iterations slower
    from the plan to the end of the first pass over the data (40
    iterations: files read cold), or a slow patch shorter than half the
    last ``tolerance`` of the budget, then the planned speed again: no
    re-plan, which would have shortened the whole run for good; the time
    lost comes off the end, and the run fills the budget."""

    class LongerEpoch(tiny_dataset_cls):

        def __len__(self):
            return 80

    machine = Machine(slow_patch)
    runner = make_runner(work_dir=tmp_path,
                         **budget_cfg(machine, LongerEpoch()))
    runner.train()
    assert runner.train_loop._replans_left == runner.train_loop.replans
    assert 0.9 * 60 * BUDGET_MINUTES <= machine.now <= 60 * BUDGET_MINUTES
    assert machine.validations[-1] == runner.iter


@pytest.mark.parametrize('seconds_per_iter', [0.2, 0.25])
def test_a_longer_interval_after_a_validation_does_not_validate_again_at_once(
        train, seconds_per_iter):
    """A validation cheaper than estimated lengthens the plan, and its
    interval, just after the first one (at iteration 54 of 0.25 s, the
    interval goes from 54 to 56): the next validation still comes a
    whole interval later, not at the new interval's first multiple."""
    machine = Machine(lambda _: seconds_per_iter, validation_seconds=0.5)
    runner = train(machine)
    interval = runner.train_loop.val_interval
    assert interval > machine.validations[0]  # the plan was lengthened
    gaps = [b - a for a, b in zip(machine.validations,
                                  machine.validations[1:])]
    assert min(gaps) >= interval / 2, machine.validations
    assert machine.validations[-1] == runner.iter


class Interrupt(Hook):
    priority = 'LOWEST'

    def __init__(self, at: int):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.at:
            raise KeyboardInterrupt


def test_a_resumed_budgeted_run_keeps_its_plan_and_the_time_used(
        train, config, make_runner, tmp_path):
    whole = Machine(lambda _: 0.5)
    planned = train(whole, 'whole').iter

    first = Machine(lambda _: 0.5)
    cfg = config(first)
    checkpoint_at = round(50 * planned / NOMINAL)
    cfg['custom_hooks'] = [first, Interrupt(at=checkpoint_at + 3)]
    with pytest.raises(KeyboardInterrupt):
        make_runner(work_dir=tmp_path / 'part', **cfg).train()

    second = Machine(lambda _: 0.5)
    resumed = make_runner(
        work_dir=tmp_path / 'part', resume=True,
        load_from=str(tmp_path / 'part' / f'iter_{checkpoint_at}.pth'),
        **config(second))
    resumed.train()
    assert resumed.iter == planned
    elapsed_at_checkpoint = resumed.message_hub.get_info(BUDGET_KEY)
    assert elapsed_at_checkpoint['max_iters'] == planned
    # The resumed run had only what was left: it trained the rest of the
    # plan on the same clock rate as the uninterrupted one.
    assert second.now == pytest.approx(whole.now - first_time_at(
        first, checkpoint_at), abs=1.0)
    assert second.lrs == pytest.approx(whole.lrs[checkpoint_at:], rel=1e-9)


def first_time_at(machine: Machine, iteration: int) -> float:
    """Simulated seconds a run had used when ``iteration`` started."""
    seconds = sum(machine.seconds_per_iter(i) for i in range(iteration))
    validations = sum(1 for v in machine.validations if v <= iteration)
    return seconds + validations * machine.validation_seconds


@pytest.mark.parametrize('minutes', [0, -1, 'abc', True])
def test_a_budget_that_is_not_minutes_is_refused(make_runner, config,
                                                 minutes):
    machine = Machine(lambda _: 0.5)
    cfg = config(machine)
    cfg['train_cfg']['minutes'] = minutes
    with pytest.raises(ConfigValueError, match='train_cfg.minutes'):
        make_runner(**cfg).train()
