"""MMEngine's ReduceOnPlateauLR in segkit's iteration-based runs: the
learning rate is cut after ``patience`` validations without a better score,
not before, also when the run length is overridden or fitted to minutes."""
from pathlib import Path
from typing import List

import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.registry import DefaultScope

from segkit.apis import load_config
from segkit.registry import METRICS
from test_time_budget_loop import Machine, budget_cfg

REPO = Path(__file__).resolve().parents[2]
PLATEAU = str(REPO / 'configs' / 'unet_carvana_plateau.py')
LR = 0.1
PATIENCE = 2
# The first score is the best: three worse ones (patience + 1) cut the
# learning rate; the count restarts; two worse ones and a better one do not
# cut; three more no better than it cut again.
SCORES = [0.7, 0.6, 0.65, 0.6, 0.5, 0.5, 0.8, 0.75, 0.8, 0.7]
WANT = [LR] * 3 + [LR * 0.5] * 6 + [LR * 0.25]


class ScriptedScore(BaseMetric):
    """Reports the next of ``scores`` as ``Dice`` at each validation, the
    last one again once they run out."""

    default_prefix = ''

    def __init__(self, scores: List[float]):
        super().__init__()
        self.scores = scores
        self.validations = 0

    def process(self, data_batch, data_samples):
        self.results.append(None)

    def compute_metrics(self, results):
        self.validations += 1
        return dict(Dice=self.scores[min(self.validations, len(self.scores))
                                     - 1])


class LRAfterValidation(Hook):
    """The learning rate after each validation's scheduler step."""

    priority = 'LOWEST'  # after ParamSchedulerHook (LOW)

    def __init__(self):
        self.lrs: List[float] = []

    def after_val_epoch(self, runner, metrics=None):
        self.lrs.append(runner.optim_wrapper.param_groups[0]['lr'])


def plateau_run(make_runner, hooks=(), **overrides) -> List[float]:
    """The tiny runner (validating every iteration unless ``overrides``
    say otherwise), its learning rate set by ReduceOnPlateauLR on the
    scripted Dice; returns the learning rate after each validation."""
    record = LRAfterValidation()
    cfg = dict(
        train_cfg=dict(by_epoch=False, max_iters=len(SCORES), val_interval=1),
        val_evaluator=[ScriptedScore(SCORES)],
        param_scheduler=[dict(type='ReduceOnPlateauLR', monitor='Dice',
                              rule='greater', factor=0.5,
                              patience=PATIENCE)],
        default_hooks=dict(checkpoint=dict(
            type='CheckpointHook', by_epoch=False, interval=len(SCORES),
            save_best='Dice', rule='greater')),
        custom_hooks=[*hooks, record])
    make_runner(**{**cfg, **overrides}).train()
    return record.lrs


@pytest.mark.slow  # a real training run
def test_lr_is_cut_after_patience_validations_without_improvement(
        make_runner):
    assert plateau_run(make_runner) == WANT


def test_a_time_budget_keeps_the_plateau_scheduler_counting(
        make_runner, tiny_dataset_cls):
    """The loop rebuilds the schedule when it plans (after the first
    iterations, again after the first timed validation): the plateau
    scheduler keeps its count and is still stepped by validations."""
    machine = Machine(lambda _: 0.25)
    budget = budget_cfg(machine, tiny_dataset_cls())
    budget['train_cfg']['val_interval'] = 10
    lrs = plateau_run(make_runner, hooks=[machine],
                      train_dataloader=budget['train_dataloader'],
                      train_cfg=budget['train_cfg'])
    assert machine.validations[0] < 13  # before the first plan
    assert lrs[:len(WANT)] == WANT


def test_a_max_iters_override_leaves_the_plateau_scheduler_alone():
    cfg = load_config(PLATEAU, {'train_cfg.max_iters': 300})
    written = load_config(PLATEAU)
    # the schedule did scale, to at most 4 validations of a shortened run
    assert cfg.train_cfg.val_interval == 75
    assert cfg.param_scheduler == written.param_scheduler


def test_the_plateau_config_monitors_what_its_evaluator_reports():
    cfg = load_config(PLATEAU)
    scheduler, = cfg.param_scheduler
    assert (scheduler.type, scheduler.rule) == ('ReduceOnPlateauLR', 'greater')
    with DefaultScope.overwrite_default_scope('segkit'):
        metric = METRICS.build(cfg.val_evaluator)
    # One image's path and 2x2 confusion matrix, as DiceMetric.process
    # stores them.
    scores = metric.compute_metrics([('a.jpg',
                                      torch.tensor([[5, 1], [2, 8]]))])
    assert scheduler.monitor in scores
    assert cfg.default_hooks.checkpoint.save_best == scheduler.monitor


@pytest.mark.slow  # a real training run
def test_the_plateau_config_cuts_its_rmsprop_lr_after_its_patience(
        make_runner):
    cfg = load_config(PLATEAU)
    scheduler, = cfg.param_scheduler
    lr = cfg.optim_wrapper.optimizer.lr
    assert cfg.optim_wrapper.optimizer.type == 'RMSprop'
    lrs = plateau_run(
        make_runner, optim_wrapper=cfg.optim_wrapper,
        param_scheduler=cfg.param_scheduler,
        train_cfg=dict(by_epoch=False, max_iters=scheduler.patience + 2,
                       val_interval=1),
        val_evaluator=[ScriptedScore([0.9])])
    assert lrs == [lr] * (scheduler.patience + 1) + [lr * scheduler.factor]
