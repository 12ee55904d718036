"""HistogramHook on a real (tiny) MMEngine run: TensorBoard's event file and
an offline W&B run, read back, hold histograms of every weight and gradient
at exactly the interval's iterations, with the values the model had there;
off the interval the hook touches no tensor."""
import sys
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest
import torch
from mmengine.hooks import Hook
from tensorboard.backend.event_processing.event_accumulator import (
    HISTOGRAMS, EventAccumulator)
from torch.overrides import TorchFunctionMode
from wandb_records import wandb_history

from segkit.engine.hooks import HistogramHook, histogram_hook
from segkit.utils import ConfigValueError

MAX_ITERS, INTERVAL = 5, 2
LOGGED_AT = (2, 4)
NAMES = ('conv.weight', 'conv.bias', 'bn.weight', 'bn.bias')
Stats = Tuple[float, float, float]  # number of values, min, max


def stats(tensor: torch.Tensor) -> Stats:
    return tensor.numel(), tensor.min().item(), tensor.max().item()


class Recorder(Hook):
    """The model's weights after each iteration and the gradients its
    backward produced, read by tensor hooks (not by the optimiser)."""

    def before_train(self, runner) -> None:
        self.params: Dict[int, Dict[str, Stats]] = {}
        self.grads: Dict[int, Dict[str, Stats]] = {}
        self._grads: Dict[str, Stats] = {}
        for name, param in runner.model.named_parameters():
            param.register_hook(lambda grad, name=name: self._grads.update(
                {name: stats(grad)}))

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        step = runner.iter + 1
        self.params[step] = {name: stats(param) for name, param
                             in runner.model.named_parameters()}
        self.grads[step], self._grads = self._grads, {}

    def expected(self, names=NAMES) -> Dict[str, Dict[int, Stats]]:
        """Tag to step to stats, as the hook should have logged them."""
        return {f'{kind}/{name}': {step: record[step][name]
                                   for step in LOGGED_AT}
                for kind, record in (('params', self.params),
                                     ('grads', self.grads))
                for name in names}


class HookTensorOps(TorchFunctionMode):
    """The training iterations in which code of histogram_hook.py runs a
    torch function (a tensor op or attribute: anything that could sync)."""

    def __init__(self) -> None:
        super().__init__()
        self.iteration: Optional[int] = None
        self.iterations = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        frame = sys._getframe(1)
        while frame is not None and self.iteration is not None:
            if frame.f_code.co_filename == histogram_hook.__file__:
                self.iterations.add(self.iteration)
                break
            frame = frame.f_back
        return func(*args, **(kwargs or {}))


class IterationMarker(Hook):
    """Tells ``ops`` which iteration runs: from before every other hook's
    ``before_train_iter`` to the next iteration's, until training ends."""

    priority = 'HIGHEST'

    def __init__(self, ops: HookTensorOps) -> None:
        self.ops = ops

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.ops.iteration = runner.iter + 1

    def after_train(self, runner) -> None:
        self.ops.iteration = None


def build(make_runner, backends, *hooks, **hook_args):
    """A runner of MAX_ITERS iterations with a HistogramHook every
    INTERVAL, a Recorder and ``hooks``; returns it and the recorder."""
    recorder = Recorder()
    runner = make_runner(
        train_cfg=dict(by_epoch=False, max_iters=MAX_ITERS,
                       val_interval=MAX_ITERS),
        visualizer=dict(type='Visualizer',
                        vis_backends=[dict(type=b) for b in backends]),
        custom_hooks=[dict(type='HistogramHook', interval=INTERVAL,
                           **hook_args), recorder, *hooks])
    return runner, recorder


def tensorboard_histograms(work_dir: Path) -> Dict[str, Dict[int, Stats]]:
    """Tag to step to the stats of the histogram in the run's event file."""
    (events, ) = work_dir.glob('*/vis_data/events.out.tfevents.*')
    accumulator = EventAccumulator(str(events),
                                   size_guidance={HISTOGRAMS: 0}).Reload()
    return {tag: {event.step: (event.histogram_value.num,
                               event.histogram_value.min,
                               event.histogram_value.max)
                  for event in accumulator.Histograms(tag)}
            for tag in accumulator.Tags()[HISTOGRAMS]}


def test_tensorboard_holds_weights_and_grads_at_the_interval(
        make_runner, tmp_path):
    ops = HookTensorOps()
    runner, recorder = build(make_runner, ['TensorboardVisBackend'],
                             IterationMarker(ops))
    with ops:
        runner.train()
    assert tensorboard_histograms(tmp_path / 'work') == recorder.expected()
    # No tensor touched, so no device sync, off the interval.
    assert ops.iterations == set(LOGGED_AT)


def test_modules_select_the_parameters(make_runner, tmp_path):
    runner, recorder = build(make_runner, ['TensorboardVisBackend'],
                             modules=['conv'])
    runner.train()
    assert tensorboard_histograms(tmp_path / 'work') == recorder.expected(
        ('conv.weight', 'conv.bias'))


def test_wandb_offline_run_holds_weights_and_grads_at_the_interval(
        make_runner, tmp_path, monkeypatch):
    import wandb
    monkeypatch.setenv('WANDB_MODE', 'offline')
    monkeypatch.setenv('WANDB_SILENT', 'true')
    runner, recorder = build(make_runner, ['WandbVisBackend'])
    runner.train()
    # run.finish() may return before W&B's service has written the whole
    # file; teardown waits for it.
    wandb.teardown()
    (run_file, ) = (tmp_path / 'work').glob(
        '*/vis_data/wandb/offline-run-*/*.wandb')
    logged: Dict[str, Dict[int, Stats]] = {}
    for row in wandb_history(run_file):
        # A histogram is stored as <tag>/_type, <tag>/values, <tag>/bins.
        for key, value in row.items():
            tag = key.removesuffix('/_type')
            if tag != key and value == 'histogram':
                counts, bins = row[f'{tag}/values'], row[f'{tag}/bins']
                logged.setdefault(tag, {})[row['iter']] = (
                    sum(counts), bins[0], bins[-1])
    assert logged == recorder.expected()


def test_only_rank_0_logs(make_runner, tmp_path, monkeypatch):
    monkeypatch.setattr(histogram_hook, 'is_main_process', lambda: False)
    build(make_runner, ['TensorboardVisBackend'])[0].train()
    assert tensorboard_histograms(tmp_path / 'work') == {}


def test_without_a_histogram_backend_training_runs_and_warns(
        make_runner, warnings_logged):
    runner, _ = build(make_runner, ['LocalVisBackend'])
    with warnings_logged() as warnings:
        runner.train()
    assert runner.iter == MAX_ITERS
    assert [w for w in warnings if 'HistogramHook' in w] == [
        "HistogramHook: none of the visualizer's backends (LocalVisBackend) "
        "takes histograms; add dict(type='TensorboardVisBackend') or "
        "dict(type='WandbVisBackend') to visualizer.vis_backends"]


def test_user_errors_name_the_value(make_runner):
    with pytest.raises(ConfigValueError, match=r'^HistogramHook interval=0:'):
        HistogramHook(interval=0)
    with pytest.raises(ConfigValueError, match=(
            r"modules=\('conv', 'head'\): TinySegModel has no submodule "
            r"'head'; .* such as \['data_preprocessor', 'conv', 'bn'\]$")):
        build(make_runner, ['LocalVisBackend'],
              modules=('conv', 'head'))[0].train()
