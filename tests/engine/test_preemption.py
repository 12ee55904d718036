"""Preemption of real training runs (tools/train.py on the bundled CamVid
sample), as Slurm and ``timeout`` deliver it: SIGTERM to the whole process
group, DataLoader workers included. The run finishes the iteration in
flight, leaves a complete checkpoint of it, says so in the log and exits
with EXIT_PREEMPTED; ``--resume`` then reproduces the uninterrupted run's
losses and weights exactly.

The runs and their helpers are test_fault_tolerance.py's (SIGKILL there):
the same tiny U-Net, 12 iterations, seeded and deterministic. The
uninterrupted and the preempted run train side by side. A second signal
during the save is tested in-process (tests/engine/hooks/
test_preemption_hook.py), where it can be timed exactly."""
import os
import re
import shutil
import signal
import time
from pathlib import Path
from typing import Dict

import pytest
import torch
from test_fault_tolerance import (INTERVAL, MAX_ITERS, RESUMED, TIMEOUT_S,
                                  Run, Training, ckpt_iter, logged_iters)

from segkit.engine.hooks import EXIT_PREEMPTED
from segkit.engine.resume import checkpoint_damage

pytestmark = pytest.mark.slow  # runs the real tools in subprocesses

# The signal goes once the log is this far, past the first checkpoint.
SIGNAL_AFTER_ITER = 6


def preempt_after(training: Training, iteration: int,
                  signum: int = signal.SIGTERM) -> Run:
    """``signum`` to the run's process group once iteration ``iteration``
    is logged and the first periodic checkpoint is on disk."""
    deadline = time.monotonic() + TIMEOUT_S
    while (max(logged_iters(training.output()), default=0) < iteration
           or not (training.work_dir / f'iter_{INTERVAL}.pth').exists()):
        assert training.proc.poll() is None, (
            'the run ended before the signal:\n' + training.output()[-4000:])
        assert time.monotonic() < deadline, 'the run never got there'
        time.sleep(0.02)
    os.killpg(training.proc.pid, signum)
    code = training.proc.wait(timeout=TIMEOUT_S)
    assert code == EXIT_PREEMPTED, training.output()[-4000:]
    return training.run()


@pytest.fixture(scope='module')
def runs(tmp_path_factory) -> Dict[str, Run]:
    """``full``: uninterrupted; ``stopped``: SIGTERMed mid-interval, its
    work dir as it was left (``stopped_dir``); ``resumed``: ``--resume``
    of it."""
    root = tmp_path_factory.mktemp('preemption')
    full = Training(root / 'full')
    stopped = preempt_after(Training(root / 'stopped'), SIGNAL_AFTER_ITER)
    stopped_dir = root / 'stopped_as_left'
    shutil.copytree(stopped.work_dir, stopped_dir)
    resumed = Training(stopped.work_dir, '--resume')
    return dict(full=full.finish(), stopped=stopped, stopped_dir=stopped_dir,
                resumed=resumed.finish())


def _stop_iteration(run: Run, name: str = 'SIGTERM') -> int:
    match = re.search(name + r': stopped after iteration (\d+)/'
                      rf'{MAX_ITERS}, checkpoint (\S+) is complete; exiting '
                      f'with status {EXIT_PREEMPTED}', run.output)
    assert match, run.output[-4000:]
    assert Path(match.group(2)) == run.work_dir / f'iter_{match.group(1)}.pth'
    return int(match.group(1))


def test_sigterm_finishes_the_iteration_and_saves_it(runs):
    stopped, stopped_dir = runs['stopped'], runs['stopped_dir']
    step = _stop_iteration(stopped)
    # the iteration in flight when the signal came, and no further
    assert SIGNAL_AFTER_ITER <= step < MAX_ITERS
    assert max(logged_iters(stopped.output)) == step
    assert stopped.losses == {i: runs['full'].losses[i]
                              for i in range(1, step + 1)}
    checkpoint = stopped_dir / f'iter_{step}.pth'
    assert checkpoint_damage(str(checkpoint)) is None
    saved = torch.load(checkpoint)
    assert saved['meta']['iter'] == step
    assert {'state_dict', 'optimizer', 'param_schedulers',
            'message_hub'} <= saved.keys()
    pointer = (stopped_dir / 'last_checkpoint').read_text()
    assert Path(pointer).name == checkpoint.name
    assert max(stopped_dir.glob('iter_*.pth'), key=ckpt_iter) == checkpoint
    assert not list(stopped_dir.glob('.*.tmp'))  # nothing half-written


def test_resume_after_sigterm_reproduces_the_uninterrupted_run(runs):
    full, resumed = runs['full'], runs['resumed']
    step = _stop_iteration(runs['stopped'])
    assert RESUMED.findall(resumed.output) == [str(step)]
    assert logged_iters(resumed.output)[0] == step + 1
    assert sorted(resumed.losses) == list(range(step + 1, MAX_ITERS + 1))
    assert resumed.losses == {i: full.losses[i] for i in resumed.losses}
    final = torch.load(resumed.work_dir / f'iter_{MAX_ITERS}.pth')
    reference = torch.load(full.work_dir / f'iter_{MAX_ITERS}.pth')
    for key, value in reference['state_dict'].items():
        assert torch.equal(final['state_dict'][key], value), key


def test_ctrl_c_stops_as_sigterm_does(tmp_path):
    """SIGINT to the group, as a terminal's Ctrl-C sends it: workers
    included, the same checkpoint and exit status as SIGTERM."""
    stopped = preempt_after(Training(tmp_path / 'work'), SIGNAL_AFTER_ITER,
                            signal.SIGINT)
    step = _stop_iteration(stopped, 'SIGINT')
    assert SIGNAL_AFTER_ITER <= step < MAX_ITERS
    assert 'Ctrl-C: finishing this iteration' in stopped.output
    assert 'Traceback' not in stopped.output
    assert checkpoint_damage(str(stopped.work_dir / f'iter_{step}.pth')) \
        is None
