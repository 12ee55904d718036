"""The researcher's path through the real tools, on real CamVid, on the CPU:
train → checkpoint → test → resume."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import segkit  # noqa: F401  (allow-lists MMEngine's checkpoint types)

REPO = Path(__file__).resolve().parents[1]
CONFIG = 'configs/unet_camvid_quick.py'
# A narrow net and a handful of iterations: the tools, not the model, are
# under test here.
SMALL = ['model.base_channels=4', 'model.depth=3',
         'model.data_preprocessor.size_divisor=8',
         'train_dataloader.batch_size=2', 'train_dataloader.num_workers=1',
         'val_dataloader.num_workers=1', 'train_cfg.val_interval=3',
         'default_hooks.checkpoint.interval=3', 'default_hooks.logger.interval=1']


def run_tool(*args: str) -> str:
    proc = subprocess.run([sys.executable, *args], cwd=REPO, text=True,
                          capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def trained(tmp_path_factory, camvid_root):
    work_dir = tmp_path_factory.mktemp('unet_camvid_quick')
    log = run_tool('tools/train.py', CONFIG, '--work-dir', str(work_dir),
                   '--cfg-options', f'data_root={camvid_root}',
                   'train_cfg.max_iters=6', *SMALL)
    return work_dir, log


def test_train_writes_checkpoints_and_validates(trained):
    work_dir, log = trained
    assert (work_dir / 'iter_6.pth').is_file()
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith(
        'iter_6.pth')
    assert list(work_dir.glob('best_mIoU_iter_*.pth'))
    assert re.search(r'mIoU: \d\.\d+', log)
    assert 'no CUDA' in log or torch.cuda.is_available()


def test_test_tool_prints_and_writes_miou(trained, camvid_root):
    work_dir, _ = trained
    out = work_dir / 'metrics.json'
    log = run_tool('tools/test.py', CONFIG, str(work_dir / 'iter_6.pth'),
                   '--work-dir', str(work_dir), '--out', str(out),
                   '--cfg-options', f'data_root={camvid_root}', *SMALL)
    metrics = json.loads(out.read_text())
    assert 0.0 <= metrics['mIoU'] <= 1.0
    assert f"mIoU: {metrics['mIoU']:.4f}" in log
    assert 'Sky' in log and 'Bicyclist' in log  # the per-class table


def test_resume_continues_from_the_last_iteration(trained, camvid_root):
    work_dir, _ = trained
    log = run_tool('tools/train.py', CONFIG, '--work-dir', str(work_dir),
                   '--resume', '--cfg-options', f'data_root={camvid_root}',
                   'train_cfg.max_iters=9', *SMALL)
    assert re.search(r'resumed epoch: \d+, iter: 6', log)
    assert 'Iter(train) [7/9]' in log and 'Iter(train) [1/9]' not in log
    ckpt = torch.load(work_dir / 'iter_9.pth', map_location='cpu')
    assert ckpt['meta']['iter'] == 9
