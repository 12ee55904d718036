"""NonFiniteLossHook on a real (tiny) MMEngine run: a NaN loss stops training
naming the iteration before the optimiser or any checkpoint sees it, or,
with skip_nonfinite=True, the batch is skipped and counted. Each test runs
with a fused optimiser (the step withheld on the device, read back at the
next log point) and an unfused one (the flag read every iteration)."""
import inspect
import math
import os.path as osp
import re
from typing import Callable

import pytest
import torch
from mmengine.hooks import Hook

from segkit.engine.hooks import NonFiniteLossError, NonFiniteLossHook

NAN_AT = 4  # 1-based training iteration, as in iter_4.pth and the log


@pytest.fixture
def nan_model_cls(tiny_model_cls):

    class LossTurnsNaN(tiny_model_cls):
        """Two loss terms; ``loss_ce`` is NaN at the given iterations."""

        def __init__(self, nan_iters) -> None:
            super().__init__()
            self.nan_iters = set(nan_iters)
            self.loss_calls = 0

        def forward(self, inputs, labels, mode='tensor'):
            out = super().forward(inputs, labels, mode)
            if mode != 'loss':
                return out
            self.loss_calls += 1
            ce = out['loss']
            if self.loss_calls in self.nan_iters:
                ce = ce * math.nan
            return dict(loss_ce=ce,
                        loss_reg=1e-3 * self.conv.weight.square().sum())

    return LossTurnsNaN


class RecordWeights(Hook):
    """The conv weight after every training iteration."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.after_iter = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.after_iter.append(runner.model.conv.weight.detach().clone())


@pytest.fixture(params=[True, False], ids=['fused', 'unfused'])
def guarded_run(request, tiny_model_cls) -> Callable[..., dict]:
    """Runner overrides: checkpoint and validate every 2 iterations keeping
    the best, SGD fused or not, logs every ``log_interval``, a constant LR
    (the fixture's decays to 0 by iteration 4, when no step would change
    the weights), an InfiniteSampler (at each end of
    an epoch MMEngine sleeps 2 s, and the 4-sample dataset ends one every
    2 iterations), and the hook under test."""
    # The conftest that defines the tiny model defines its dataset.
    dataset = inspect.getmodule(tiny_model_cls).TinySegDataset()
    return lambda max_iters, log_interval=1, **hook_args: dict(
        train_dataloader=dict(
            dataset=dataset,
            batch_size=2,
            sampler=dict(type='InfiniteSampler', shuffle=True),
            collate_fn=dict(type='default_collate')),
        default_hooks=dict(
            checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False,
                            interval=2, save_best='acc', rule='greater'),
            logger=dict(type='LoggerHook', interval=log_interval),
            nonfinite_loss=dict(type='NonFiniteLossHook', **hook_args)),
        optim_wrapper=dict(optimizer=dict(
            type='SGD', lr=0.1, momentum=0.9, fused=request.param)),
        param_scheduler=None,
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=2))


def checkpoint_iters(work_dir) -> dict:
    """``{file name: iteration}`` of every checkpoint in ``work_dir``."""
    return {
        path: int(re.search(r'iter_(\d+)\.pth$', path).group(1))
        for path in map(osp.basename, map(str, work_dir.glob('*.pth')))
    }


def test_nan_loss_stops_before_step_and_checkpoint(make_runner, nan_model_cls,
                                                   guarded_run, tmp_path):
    recorder = RecordWeights()
    runner = make_runner(
        model=nan_model_cls([NAN_AT]),
        custom_hooks=[recorder],
        **guarded_run(6))
    with pytest.raises(NonFiniteLossError) as stopped:
        runner.train()

    message = str(stopped.value)
    assert f'iteration {NAN_AT} ' in message
    assert 'loss_ce=nan' in message and 'loss_reg' not in message
    # Iteration 2 was checkpointed, validated and made the best; iteration
    # 4 would have been too, had the hook not stopped the run first.
    work_dir = tmp_path / 'work'
    assert checkpoint_iters(work_dir) == {'iter_2.pth': 2,
                                          'best_acc_iter_2.pth': 2}
    assert torch.load(work_dir / 'best_acc_iter_2.pth')['meta']['iter'] == 2
    assert (work_dir / 'last_checkpoint').read_text().endswith('iter_2.pth')
    # The optimiser never stepped on the NaN: the weights in memory are
    # those iteration NAN_AT - 1 left (the recorder, LOWEST, ran up to it).
    assert len(recorder.after_iter) == NAN_AT - 1
    assert torch.equal(runner.model.conv.weight, recorder.after_iter[-1])


def test_a_nan_between_log_points_stops_at_the_next_with_its_weights(
        make_runner, nan_model_cls, guarded_run, tmp_path):
    """Checked every 5 iterations (validation and checkpoints every 2): the
    run stops at the save of iteration 4 at the latest, naming iteration
    3, with the weights iteration 2 left."""
    recorder = RecordWeights()
    runner = make_runner(
        model=nan_model_cls([3]),
        custom_hooks=[recorder],
        **guarded_run(10, log_interval=5))
    with pytest.raises(NonFiniteLossError, match='at iteration 3 '):
        runner.train()
    assert checkpoint_iters(tmp_path / 'work') == {
        'iter_2.pth': 2, 'best_acc_iter_2.pth': 2}
    assert len(recorder.after_iter) >= 2
    for weights in recorder.after_iter[2:]:
        assert torch.equal(weights, recorder.after_iter[1])
    assert torch.equal(runner.model.conv.weight, recorder.after_iter[1])


def test_skip_mode_skips_counts_and_logs_the_batches(make_runner,
                                                     nan_model_cls,
                                                     guarded_run, tmp_path):
    recorder = RecordWeights()
    runner = make_runner(
        model=nan_model_cls([2, 3]),
        custom_hooks=[recorder],
        **guarded_run(6, skip_nonfinite=True))
    runner.train()

    weights = recorder.after_iter
    assert len(weights) == 6
    # Iterations 2 and 3 left the weights as iteration 1 did; 4 changed
    # them, so training went on from good weights.
    assert torch.equal(weights[1], weights[0])
    assert torch.equal(weights[2], weights[0])
    assert not torch.equal(weights[3], weights[2])
    assert all(torch.isfinite(w).all() for w in weights)

    assert runner.message_hub.get_info('nonfinite_skipped') == 2
    log = (tmp_path / 'work' / runner.timestamp /
           f'{runner.timestamp}.log').read_text()
    for iteration, so_far in ((2, 1), (3, 2)):
        assert re.search(
            rf'Non-finite loss at iteration {iteration} \(loss=nan, '
            rf'loss_ce=nan\): batch skipped, parameters not updated '
            rf'\({so_far} skipped so far\)', log)
    assert '2 training batch(es) skipped for a non-finite loss' in log
    # The count is saved with the run, so a resumed run keeps counting.
    saved = torch.load(tmp_path / 'work' / 'iter_4.pth')
    assert saved['message_hub']['runtime_info']['nonfinite_skipped'] == 2
    assert all(torch.isfinite(v).all() for v in saved['state_dict'].values())


def test_resumed_run_keeps_counting(make_runner, nan_model_cls, guarded_run,
                                    tmp_path):
    first = make_runner(
        model=nan_model_cls([2]),
        **guarded_run(4, skip_nonfinite=True))
    first.train()
    resumed = make_runner(
        model=nan_model_cls([1]),  # its first iteration is iteration 5
        **guarded_run(6, skip_nonfinite=True),
        load_from=str(tmp_path / 'work' / 'iter_4.pth'),
        resume=True)
    resumed.train()
    assert resumed.message_hub.get_info('nonfinite_skipped') == 2


def test_train_step_bypassing_the_optim_wrapper_is_refused(make_runner,
                                                           tiny_model_cls):

    class StepsItself(tiny_model_cls):

        def train_step(self, data, optim_wrapper):
            loss = self(**data, mode='loss')['loss']
            loss.backward()
            optim_wrapper.optimizer.step()
            return dict(loss=loss)

    runner = make_runner(
        model=StepsItself(),
        default_hooks=dict(nonfinite_loss=NonFiniteLossHook()))
    with pytest.raises(RuntimeError, match='did not call optim_wrapper'):
        runner.train()
