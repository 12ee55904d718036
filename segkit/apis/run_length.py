"""One override of the run length carries the schedule along with it.

``--cfg-options train_cfg.max_iters=2000`` on a config written for 2400
iterations would leave PolyLR's ``end`` at 2400 (the learning rate never
finishes decaying), the warm-up, validation, checkpoint and log intervals
sized for the long run. :func:`scale_run_length` scales every iteration count
of the schedule by the same factor, before the other overrides are merged,
so a value the user sets in the same command wins.

A config whose ``train_cfg`` is a ``TimeBudgetTrainLoop`` fits its schedule
to minutes instead; a ``max_iters`` set on the command line fixes the length
and turns the budget off (:func:`drop_time_budget`), and ``tools/train.py
--minutes M`` turns one on (:func:`set_time_budget`).
"""
import inspect
from typing import Any, Collection, List, Optional

from mmengine.config import Config
from mmengine.runner import IterBasedTrainLoop

from segkit.engine import TimeBudgetTrainLoop
from segkit.engine.schedule_scaling import (scale_interval, scale_span,
                                            scale_val_interval)
from segkit.utils import ConfigValueError

#: Iteration counts that scale with ``train_cfg.max_iters`` where present:
#: dotted config key -> name in the log line.
INTERVALS = {'train_cfg.val_interval': 'val_interval',
             'default_hooks.checkpoint.interval': 'checkpoint interval',
             'default_hooks.logger.interval': 'log interval'}


def _get(cfg: Config, dotted_key: str) -> Any:
    node: Any = cfg
    for part in dotted_key.split('.'):
        try:
            node = node[part]
        except (KeyError, TypeError):
            return None
    return node


def _set(cfg: Config, dotted_key: str, value: Any) -> None:
    parent, _, leaf = dotted_key.rpartition('.')
    _get(cfg, parent)[leaf] = value


def _is_iteration_based(cfg: Config, hook: str) -> bool:
    """A hook interval counts iterations (``by_epoch=False``)."""
    if hook == 'default_hooks.logger.interval':
        return True  # LoggerHook always counts iterations
    if hook == 'train_cfg.val_interval':
        return 'max_iters' in cfg.train_cfg
    return _get(cfg, hook.rsplit('.', 1)[0] + '.by_epoch') is False


def scale_run_length(cfg: Config, max_iters: int,
                     explicit: Collection[str] = ()) -> List[str]:
    """Set ``train_cfg.max_iters`` and scale the schedule to it, in place.

    Iteration-based ``param_scheduler`` ``begin``/``end`` (warm-up included;
    an ``end`` at or past the old length becomes the new length),
    ``train_cfg.val_interval`` and the iteration intervals of the checkpoint
    and logger hooks are multiplied by ``max_iters / old max_iters`` and
    rounded, each interval at least 1 and each scheduler at least one
    iteration long; a shorter run validates at most 4 times
    (:func:`~segkit.engine.schedule_scaling.scale_val_interval`).

    Args:
        cfg: A loaded config with an iteration-based ``train_cfg``.
        max_iters: The new run length, an int >= 1.
        explicit: Keys the user sets in the same command (``--cfg-options``
            keys): those values are theirs, left alone and not reported.

    Returns:
        What changed, one ``'key old -> new'`` item per value, for the log.
    """
    old = cfg.train_cfg.get('max_iters')
    cfg.train_cfg.max_iters = max_iters
    if not isinstance(old, int) or old == max_iters or old < 1:
        return []
    changes: List[str] = []
    schedulers = [] if 'param_scheduler' in explicit else enumerate(
        cfg.get('param_scheduler') or [])
    for index, scheduler in schedulers:
        if not isinstance(scheduler, dict) or scheduler.get('by_epoch',
                                                            True):
            continue
        before = (scheduler.get('begin', 0), scheduler.get('end'))
        for key, new in zip(('begin', 'end'),
                            scale_span(*before, old, max_iters)):
            if (f'param_scheduler.{index}.{key}' not in explicit
                    and (key in scheduler or key == 'begin')):
                scheduler[key] = new
        after = (scheduler.get('begin', 0), scheduler.get('end'))
        if after != before:
            changes.append(f"{scheduler.get('type')} {before[0]}-{before[1]} "
                           f'-> {after[0]}-{after[1]}')
    for key in INTERVALS:
        if key in explicit:
            continue
        value = _get(cfg, key)
        if isinstance(value, int) and _is_iteration_based(cfg, key):
            scale = (scale_val_interval if key == 'train_cfg.val_interval'
                     else scale_interval)
            new = scale(value, old, max_iters)
            if new != value:
                _set(cfg, key, new)
                changes.append(f'{INTERVALS[key]} {value} -> {new}')
    return changes


def describe_scaling(old: int, max_iters: int, changes: List[str]) -> str:
    """The one log line that states a scaled schedule."""
    return (f'train_cfg.max_iters {old} -> {max_iters} scales the schedule: '
            f'{", ".join(changes)}')


#: The ``train_cfg`` type whose length a time budget sets.
BUDGET_LOOP = TimeBudgetTrainLoop.__name__


def _budget_only_keys() -> List[str]:
    """``TimeBudgetTrainLoop`` arguments an ``IterBasedTrainLoop`` lacks."""
    fixed = inspect.signature(IterBasedTrainLoop).parameters
    return [name for name in inspect.signature(TimeBudgetTrainLoop).parameters
            if name not in fixed]


def set_time_budget(cfg: Config, minutes: float) -> None:
    """``tools/train.py --minutes M``: train for ``minutes`` with the
    config's schedule fitted to them (``TimeBudgetTrainLoop``), in place.

    Raises:
        ConfigValueError: ``minutes`` is not > 0, or the config's training
            is not iteration-based.
    """
    if minutes <= 0:
        raise ConfigValueError(f'--minutes {minutes:g}: expected minutes > 0')
    if not isinstance(cfg.get('train_cfg', {}).get('max_iters'), int):
        raise ConfigValueError(
            f'--minutes {minutes:g}: {cfg.filename or "the config"} trains '
            'by epochs; a time budget fits an iteration-based schedule '
            '(train_cfg.max_iters)')
    cfg.train_cfg.type = BUDGET_LOOP
    cfg.train_cfg.minutes = minutes


def drop_time_budget(cfg: Config) -> Optional[str]:
    """A set ``train_cfg.max_iters`` fixes the run's length: a budgeted
    config becomes an ``IterBasedTrainLoop`` of that many iterations, in
    place.

    Returns:
        The log line that says so, or ``None`` for a config without a
        budget.
    """
    if cfg.get('train_cfg', {}).get('type') != BUDGET_LOOP:
        return None
    minutes = cfg.train_cfg.get('minutes')
    for key in _budget_only_keys():
        cfg.train_cfg.pop(key, None)
    cfg.train_cfg.type = 'IterBasedTrainLoop'
    return (f'train_cfg.max_iters={cfg.train_cfg.max_iters} sets the run\'s '
            f'length: the config\'s {minutes:g}-minute time budget is off '
            '(tools/train.py --minutes M sets one)')
