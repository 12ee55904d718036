"""One train_cfg.max_iters override scales the whole schedule with it."""
import contextlib
from pathlib import Path
from unittest import mock

import pytest
from mmengine.config import Config

from segkit.apis import load_config
from segkit.apis.run_length import (describe_scaling, scale_run_length,
                                    set_time_budget)
from segkit.utils import ConfigValueError

QUICK = str(Path(__file__).parents[2] / 'configs' / 'unet_camvid_quick.py')


@contextlib.contextmanager
def patch_print_log(lines):
    """Collect what load_config logs (before any run has a log file)."""
    with mock.patch('segkit.apis.config.print_log',
                    lambda message, **_: lines.append(message)):
        yield


def schedule(**hooks) -> Config:
    return Config(dict(
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=2400,
                       val_interval=800),
        param_scheduler=[
            dict(type='LinearLR', by_epoch=False, begin=0, end=100),
            dict(type='PolyLR', by_epoch=False, begin=100, end=2400),
            dict(type='StepLR', by_epoch=True, begin=0, end=12),
        ],
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', by_epoch=False,
                            interval=1000),
            logger=dict(type='LoggerHook', interval=50), **hooks)))


def spans(cfg: Config):
    return [(s['begin'], s.get('end')) for s in cfg.param_scheduler]


def test_schedule_scales_with_the_run_length():
    cfg = schedule()
    changes = scale_run_length(cfg, 2000)
    assert cfg.train_cfg.max_iters == 2000
    # warm-up and decay scale alike and still meet; the decay ends with
    # the run; an epoch-based scheduler is left alone
    assert spans(cfg) == [(0, 83), (83, 2000), (0, 12)]
    assert cfg.train_cfg.val_interval == 667
    assert cfg.default_hooks.checkpoint.interval == 834
    assert cfg.default_hooks.logger.interval == 42
    assert describe_scaling(2400, 2000, changes) == (
        'train_cfg.max_iters 2400 -> 2000 scales the schedule: LinearLR '
        '0-100 -> 0-83, PolyLR 100-2400 -> 83-2000, val_interval 800 -> 667, '
        'checkpoint interval 1000 -> 834, log interval 50 -> 42')


def test_intervals_round_up_so_the_run_keeps_its_number_of_validations():
    cfg = schedule()
    scale_run_length(cfg, 1000)
    interval = cfg.train_cfg.val_interval
    # 800 of 2400 is 333.3 of 1000: validating at 333, 666, 999 and at the
    # end (1000) would add a fourth, one iteration before the last.
    validations = {i for i in range(1, 1001) if i % interval == 0} | {1000}
    assert sorted(validations) == [334, 668, 1000]


def validations(max_iters: int, interval: int) -> int:
    """How many times an IterBasedTrainLoop validates (always at the end)."""
    return len({i for i in range(1, max_iters + 1)
                if i % interval == 0} | {max_iters})


@pytest.mark.parametrize('written, max_iters, count', [
    (240, 20, 4),  # 10 validations written: a short run keeps 4
    (240, 1200, 4),  # the same, in any run shorter than written
    (800, 20, 3),  # 3 written: never more than the schedule had
    (2400, 20, 1),
    (240, 4800, 10),  # a longer run keeps the schedule's count
])
def test_a_shorter_run_validates_at_most_four_times(written, max_iters,
                                                    count):
    cfg = schedule()
    cfg.train_cfg.val_interval = written
    scale_run_length(cfg, max_iters)
    assert validations(max_iters, cfg.train_cfg.val_interval) == count


def test_a_very_short_run_keeps_every_count_positive_and_ordered():
    cfg = schedule()
    scale_run_length(cfg, 3)
    assert spans(cfg)[:2] == [(0, 1), (1, 3)]
    assert cfg.train_cfg.val_interval == 1
    assert cfg.default_hooks.checkpoint.interval == 2  # 1000 of 2400: 1.25
    assert cfg.default_hooks.logger.interval == 1


def test_a_value_set_in_the_same_command_is_left_to_it():
    cfg = schedule()
    changes = scale_run_length(
        cfg, 1200, {'train_cfg.val_interval', 'param_scheduler.1.end'})
    assert cfg.train_cfg.val_interval == 800
    assert spans(cfg)[:2] == [(0, 50), (50, 2400)]
    assert not any('val_interval' in change for change in changes)


def test_same_length_or_an_epoch_based_interval_changes_nothing():
    cfg = schedule()
    assert scale_run_length(cfg, 2400) == []
    cfg.default_hooks.checkpoint.by_epoch = True
    scale_run_length(cfg, 1200)
    assert cfg.default_hooks.checkpoint.interval == 1000


def test_load_config_scales_and_lets_explicit_values_win():
    cfg = load_config(QUICK, {'train_cfg.max_iters': 1200,
                              'train_cfg.val_interval': 7})
    assert cfg.train_cfg.max_iters == 1200
    assert cfg.train_cfg.val_interval == 7
    assert cfg.param_scheduler[-1].end == 1200


def test_quick_configs_train_for_minutes_until_the_length_is_set():
    cfg = load_config(QUICK)
    assert (cfg.train_cfg.type, cfg.train_cfg.minutes) == (
        'TimeBudgetTrainLoop', 15)
    assert cfg.train_cfg.max_iters == 2400  # the schedule's written length
    logged = []
    with patch_print_log(logged):
        fixed = load_config(QUICK, {'train_cfg.max_iters': 20})
    assert fixed.train_cfg.type == 'IterBasedTrainLoop'
    assert 'minutes' not in fixed.train_cfg
    assert any("the config's 15-minute time budget is off" in line
               for line in logged)
    both = load_config(QUICK, {'train_cfg.max_iters': 20,
                               'train_cfg.minutes': 2})
    assert (both.train_cfg.type, both.train_cfg.minutes,
            both.train_cfg.max_iters) == ('TimeBudgetTrainLoop', 2, 20)


@pytest.mark.parametrize('config', sorted(
    p.name for p in Path(QUICK).parent.glob('*_quick.py')))
def test_every_quick_config_has_a_15_minute_budget(config):
    train_cfg = load_config(str(Path(QUICK).with_name(config))).train_cfg
    assert (train_cfg.type, train_cfg.minutes) == ('TimeBudgetTrainLoop', 15)


def test_minutes_fit_any_iteration_based_config():
    cfg = load_config(str(Path(QUICK).with_name('unet_camvid.py')))
    set_time_budget(cfg, 30)
    assert (cfg.train_cfg.type, cfg.train_cfg.minutes,
            cfg.train_cfg.max_iters) == ('TimeBudgetTrainLoop', 30, 10000)
    with pytest.raises(ConfigValueError, match='--minutes 0: expected'):
        set_time_budget(cfg, 0)
    epochs = Config(dict(train_cfg=dict(by_epoch=True, max_epochs=3)))
    with pytest.raises(ConfigValueError, match='trains by epochs'):
        set_time_budget(epochs, 5)
