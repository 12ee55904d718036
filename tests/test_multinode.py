"""Multi-node training and evaluation for real, on one machine: two torchrun
agents are two "nodes" of one process each, joined by c10d rendezvous on
127.0.0.1 and gloo on the CPU, launched through tools/dist_train.sh and
tools/dist_test.sh with the --nnodes/--node-rank/--master-addr/--master-port
flags a cluster job passes (tools/slurm_train.sh). Then the same job is
preempted as Slurm does it: SIGTERM to every process on both nodes."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import List, Sequence

import pytest
from test_tools_e2e import FAST, REPO, SMALL_UNET, run_tool

from segkit.engine.hooks import EXIT_PREEMPTED
from segkit.engine.resume import checkpoint_damage

pytestmark = pytest.mark.slow  # four real tool runs, about a minute

CONFIG = 'configs/unet_camvid_quick.py'
ITERS = 3
TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def start_two_nodes(command: Sequence[str],
                    args: Sequence[str]) -> List[subprocess.Popen]:
    """Start ``bash *command`` as node 0 and node 1 of a 2-node job, one
    process each, each node in its own process group."""
    env = {**os.environ, 'PYTHON': sys.executable, 'OMP_NUM_THREADS': '1',
           'RDZV_ID': uuid.uuid4().hex}
    port = str(free_port())
    return [
        subprocess.Popen(
            ['bash', *command, '--nnodes', '2', '--node-rank', str(rank),
             '--master-addr', '127.0.0.1', '--master-port', port, *args],
            cwd=REPO, env=env, text=True, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        for rank in (0, 1)
    ]


def finish(procs: List[subprocess.Popen], status: int = 0) -> List[str]:
    """Wait for both nodes, which must exit with ``status``; their
    outputs."""
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=TIMEOUT_S)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    for rank, (proc, output) in enumerate(zip(procs, outputs)):
        assert proc.returncode == status, f'node {rank}:\n{output[-4000:]}'
    return outputs


def two_nodes(command: Sequence[str], args: Sequence[str]) -> List[str]:
    """Run a 2-node job to success; the outputs of its nodes."""
    return finish(start_two_nodes(command, args))


@pytest.fixture(scope='module')
def two_node_run(tmp_path_factory, camvid_sample_root):
    work_dir = tmp_path_factory.mktemp('two_nodes')
    options = [f'data_root={camvid_sample_root}', *FAST, *SMALL_UNET]
    outputs = two_nodes(['tools/dist_train.sh', CONFIG, '1'],
                        ['--work-dir', str(work_dir), '--cfg-options',
                         f'train_cfg.max_iters={ITERS}', *options])
    return work_dir, options, outputs


def test_two_nodes_train_validate_and_save_one_set_of_outputs(two_node_run):
    work_dir, _, outputs = two_node_run
    # channels_last batches: the weights were converted before DDP wrapped
    # the model, so its gradient buckets match (no copy every step). An
    # fp32 CPU run did not warn before either; where the gradients come out
    # channels_last (GPU, CPU bf16) it did (tests/engine/test_seg_runner.py
    # checks the conversion itself).
    assert not [out for out in outputs if 'Grad strides do not match' in out]
    run_dir, = work_dir.glob('2*')  # one run folder, not one per node
    log = next(run_dir.glob('*.log')).read_text()
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # MMEngine's name for the world size
    assert re.search(r'mIoU: \d\.\d+', log)  # validated at iteration 3
    assert sorted(p.name for p in work_dir.glob('*.pth')) == [
        f'best_mIoU_iter_{ITERS}.pth', f'iter_{ITERS}.pth']
    assert Path((work_dir / 'last_checkpoint').read_text()).name == \
        f'iter_{ITERS}.pth'
    # Rank 0 draws the frames of its own shard once each: 2 of the 4.
    panels = list(run_dir.glob(f'vis_data/{ITERS}/*.png'))
    assert len(panels) == 2 and len({p.name for p in panels}) == 2
    assert not list(work_dir.rglob('.*.tmp'))


def test_two_node_evaluation_equals_one_process(two_node_run, tmp_path):
    work_dir, options, _ = two_node_run
    checkpoint = str(work_dir / f'iter_{ITERS}.pth')
    single, multi = tmp_path / 'single.json', tmp_path / 'multi.json'
    run_tool('tools/test.py', CONFIG, checkpoint, '--work-dir',
             str(tmp_path / 'single'), '--out', str(single),
             '--cfg-options', *options)
    two_nodes(['tools/dist_test.sh', CONFIG, checkpoint, '1'],
              ['--work-dir', str(tmp_path / 'multi'), '--out', str(multi),
               '--cfg-options', *options])
    scores = json.loads(single.read_text())
    assert 'mIoU' in scores
    assert json.loads(multi.read_text()) == scores  # exactly, every key


def test_sigterm_to_both_nodes_saves_one_checkpoint_and_exits_75(
        two_node_run, tmp_path):
    """Resumed for many more iterations, then SIGTERM to every process of
    both nodes (agents, workers, DataLoader workers): the ranks agree on one
    iteration, rank 0 saves it, and each node's tools/torchrun.sh exits
    with EXIT_PREEMPTED although torchrun itself reports a failure."""
    work_dir = tmp_path / 'work'
    shutil.copytree(two_node_run[0], work_dir)
    procs = start_two_nodes(
        ['tools/dist_train.sh', CONFIG, '1'],
        ['--work-dir', str(work_dir), '--resume', '--cfg-options',
         'train_cfg.max_iters=1000', *two_node_run[1]])
    deadline = time.monotonic() + TIMEOUT_S
    scalars = []
    while len(scalars) < 3:  # a few iterations past the resume
        assert all(p.poll() is None for p in procs), finish(procs)
        assert time.monotonic() < deadline, 'the resumed run never got there'
        time.sleep(0.1)
        scalars = [line for path in work_dir.glob('2*/vis_data/scalars.json')
                   for line in path.read_text().splitlines() if '"loss"' in
                   line and json.loads(line)['iter'] > ITERS]
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
    outputs = finish(procs, EXIT_PREEMPTED)
    checkpoint = Path((work_dir / 'last_checkpoint').read_text())
    step = int(re.fullmatch(r'iter_(\d+)\.pth', checkpoint.name).group(1))
    assert step > ITERS + 2
    assert checkpoint_damage(str(checkpoint)) is None
    assert sorted(p.name for p in work_dir.glob('iter_*.pth')) == sorted(
        [f'iter_{ITERS}.pth', checkpoint.name])
    for output in outputs:  # both nodes name the same checkpoint
        assert f'training preempted, checkpoint {checkpoint}' in output
