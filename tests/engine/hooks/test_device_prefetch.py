"""DevicePrefetchHook: the next batch is preprocessed while the current
step runs, and training is exactly what it is without it (on the CPU, where
the hook runs one batch ahead on the same thread when forced;
tests/cuda/test_cuda_training.py does the same on a side CUDA stream)."""
from pathlib import Path

import pytest
import torch
from mmengine.hooks import Hook

from segkit.apis import load_config
from segkit.engine.hooks.device_prefetch_hook import DevicePrefetcher
from segkit.registry import RUNNERS
from segkit.structures import PREFETCHED_KEY

pytestmark = pytest.mark.slow  # two real training runs
REPO = Path(__file__).resolve().parents[3]
ITERS = 4


class SeenBatches(Hook):
    """Whether each iteration's batch came prefetched."""

    priority = 'HIGHEST'

    def __init__(self) -> None:
        self.prefetched = []

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.prefetched.append(data_batch.get(PREFETCHED_KEY) is not None)


def train(tmp_path: Path, enabled) -> tuple:
    cfg = load_config(
        str(REPO / 'configs' / 'unet_camvid_quick.py'), {
            'data_root': str(REPO / 'data' / 'camvid_sample'),
            'model.backbone.base_channels': 4,
            'model.backbone.depth': 3,
            'model.data_preprocessor.size_divisor': 8,
            'train_dataloader.batch_size': 2,
            'train_cfg.max_iters': ITERS,
            'train_cfg.val_interval': ITERS + 1,
            'default_hooks.checkpoint.interval': ITERS + 1,
            'default_hooks.device_prefetch.enabled': enabled,
            'train_dataloader.num_workers': 0,
            'train_dataloader.persistent_workers': False,
        },
        work_dir=str(tmp_path / f'work_{enabled}'))
    runner = RUNNERS.build(cfg)
    seen = SeenBatches()
    runner.register_hook(seen)
    runner.train()
    return runner, seen.prefetched


def test_prefetched_training_equals_the_unprefetched(tmp_path):
    """Off by default where the model is on the CPU; forced on, the same
    weights."""
    plain, plain_seen = train(tmp_path, None)
    ahead, ahead_seen = train(tmp_path, True)
    assert plain_seen == [False] * ITERS
    assert not isinstance(plain.train_loop.dataloader_iterator,
                          DevicePrefetcher)
    # The first batch is fetched as ever; every later one came ready.
    assert ahead_seen == [False] + [True] * (ITERS - 1)
    assert isinstance(ahead.train_loop.dataloader_iterator, DevicePrefetcher)
    expected = plain.model.state_dict()
    for key, value in ahead.model.state_dict().items():
        assert torch.equal(value, expected[key]), key
