"""What the CUDA tests share: segkit's configs on the bundled CamVid sample.
Every test here is ``@pytest.mark.cuda``; tests/conftest.py skips them where
torch sees no CUDA device. tools/gpu_check.sh runs them on a GPU machine."""
from pathlib import Path
from typing import Callable

import pytest
from mmengine.config import Config

from segkit.apis import load_config

REPO = Path(__file__).resolve().parents[2]
CAMVID_SAMPLE = REPO / 'data' / 'camvid_sample'


@pytest.fixture
def camvid_config(tmp_path) -> Callable[..., Config]:
    """``camvid_config(config='configs/unet_camvid.py', **overrides)``: the
    config on the bundled sample, as tools/train.py loads it on this machine
    (pinned memory, non-blocking copies), its work dir in ``tmp_path``."""

    def load(config: str = 'configs/unet_camvid.py', **overrides) -> Config:
        options = {'data_root': str(CAMVID_SAMPLE),
                   'train_dataloader.num_workers': 2,
                   'val_dataloader.num_workers': 1, **overrides}
        return load_config(str(REPO / config), options,
                           work_dir=str(tmp_path / 'work'))

    return load
