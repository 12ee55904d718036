"""The launches a GPU user runs: one NCCL process through torchrun
(tools/dist_train.sh, ``--launcher pytorch``), and tools/benchmark.py's
measurements, which must wait for the GPU before reading a clock."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from segkit.benchmark import PARTS, Settings, run_benchmark

pytestmark = pytest.mark.cuda
REPO = Path(__file__).resolve().parents[2]
QUICK = 'configs/unet_camvid_quick.py'


def test_single_process_nccl_run_trains_validates_and_saves(
        camvid_sample_root, tmp_path):
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = str(sock.getsockname()[1])
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', QUICK, '1', '--master-port', port,
         '--work-dir', str(tmp_path), '--cfg-options',
         f'data_root={camvid_sample_root}', 'train_cfg.max_iters=4',
         'train_cfg.val_interval=4', 'default_hooks.checkpoint.interval=4',
         'train_dataloader.num_workers=2', 'val_dataloader.num_workers=1'],
        cwd=REPO, text=True, capture_output=True, timeout=300,
        env={**os.environ, 'PYTHON': sys.executable})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = next(tmp_path.glob('2*/*.log')).read_text()
    assert 'Distributed training: True' in log and 'GPU number: 1' in log
    assert "backend='nccl'" in log
    assert (tmp_path / 'iter_4.pth').is_file()
    assert 'mIoU' in log


def test_benchmark_measures_every_part_on_the_gpu(camvid_config):
    cfg = camvid_config(QUICK)
    result = run_benchmark(cfg, PARTS, Settings(warmup=1, iters=2,
                                                repeats=2, infer_batch=2))
    assert result['machine']['device'] == 'cuda'
    assert result['machine']['gpu'] == torch.cuda.get_device_name()
    assert torch.backends.cudnn.benchmark  # as the config's env_cfg says
    train = result['train']
    for figure in (train['runner'], train['bare_loop'],
                   result['infer']['batch_1'], result['infer']['batch_n'],
                   result['data']['dataloader']):
        assert figure['images_per_s'] > 0 and len(figure['repeats']) == 2
    assert 0 <= train['runner']['data_wait_fraction'] < 1
    assert set(result['peak']['gflops']) == {'fp32', 'bf16', 'fp16'}
