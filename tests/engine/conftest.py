"""A Runner small enough to train in a second: what checkpoint and optimiser
tests need to exercise MMEngine's real save / load / build paths."""
import uuid
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset


class TinySegModel(BaseModel):
    """1x1 conv + BN segmenter: has parameters, buffers and momentum."""

    def __init__(self, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.conv = nn.Conv2d(3, 2, 1)
        self.bn = nn.BatchNorm2d(2)

    def forward(self, inputs, labels, mode='tensor'):
        logits = self.bn(self.conv(inputs))
        if mode == 'loss':
            return dict(loss=F.cross_entropy(logits.float(), labels))
        if mode == 'predict':
            return list(logits.argmax(1) == labels)
        return logits


class TinySegDataset(Dataset):
    metainfo = dict(classes=('background', 'object'))

    def __len__(self):
        return 4

    def __getitem__(self, index):
        gen = torch.Generator().manual_seed(index)
        return dict(
            inputs=torch.rand(3, 8, 8, generator=gen),
            labels=torch.randint(0, 2, (8, 8), generator=gen))


class PixelAccuracy(BaseMetric):
    """Returns a numpy float32, as mmseg-style metrics (numpy over float32
    tensors) do, so the checkpoint's ``best_score`` is a numpy scalar."""

    def process(self, data_batch, data_samples):
        self.results.extend(s.float().mean() for s in data_samples)

    def compute_metrics(self, results):
        return dict(acc=np.round(torch.stack(results).numpy().mean() * 100, 2))


def build_runner(work_dir: Path, **overrides) -> Runner:
    """Iter-based: 4 iters, val + checkpoint every 2, SGD with momentum,
    warm-up then poly LR -- the state a real segkit run checkpoints."""
    loader = dict(
        dataset=TinySegDataset(),
        batch_size=2,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'))
    cfg = dict(
        model=TinySegModel(),
        work_dir=str(work_dir),
        experiment_name=f'test-{uuid.uuid4().hex}',  # fresh MessageHub
        # As segkit's configs: MMEngine's loop sleeps 2 s each time it
        # restarts a finite sampler (here every 2 iterations).
        train_dataloader=dict(
            loader, sampler=dict(type='InfiniteSampler', shuffle=True)),
        val_dataloader=loader,
        val_evaluator=[PixelAccuracy()],
        train_cfg=dict(by_epoch=False, max_iters=4, val_interval=2),
        val_cfg=dict(),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.5, by_epoch=False, end=2),
            dict(type='PolyLR', by_epoch=False, begin=2, end=4)
        ],
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook',
                by_epoch=False,
                interval=2,
                save_best='acc',
                rule='greater'),
            logger=dict(type='LoggerHook', interval=1)),
        log_level='WARNING',
        randomness=dict(seed=0),
        default_scope='segkit')
    cfg.update(overrides)
    return Runner(**cfg)


@pytest.fixture
def make_runner(tmp_path) -> Callable[..., Runner]:
    return lambda **overrides: build_runner(
        overrides.pop('work_dir', tmp_path / 'work'), **overrides)


@pytest.fixture
def tiny_model_cls() -> type:
    return TinySegModel


@pytest.fixture
def tiny_dataset_cls() -> type:
    return TinySegDataset


@pytest.fixture(scope='session')
def mmengine_run(tmp_path_factory) -> Runner:
    """A finished run whose checkpoints MMEngine's stock CheckpointHook
    wrote (iter_2.pth, iter_4.pth, best_acc_iter_*.pth)."""
    runner = build_runner(tmp_path_factory.mktemp('mmengine_run'))
    runner.train()
    return runner
