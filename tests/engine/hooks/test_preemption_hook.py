"""PreemptionHook on a real (tiny) MMEngine run in this process: a signal
mid-run finishes the iteration, saves its checkpoint atomically and raises
TrainingPreempted; a second signal during the save is absorbed; the
signal handlers are the caller's again afterwards. tests/engine/
test_preemption.py sends the signal to real tools/train.py processes."""
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from segkit.engine.hooks import (EXIT_PREEMPTED, PREEMPTED_MARKER_ENV,
                                 PreemptionHook, TrainingPreempted)
from segkit.engine.resume import checkpoint_damage
from segkit.utils import fileio
from tool_process import start_python

MAX_ITERS = 4


class SignalAt(Hook):
    """Sends ``signum`` to this process during training iteration
    ``iteration`` (1-based), before the iteration's other hooks run."""

    priority = 'HIGHEST'

    def __init__(self, iteration: int, signum: int) -> None:
        self.iteration, self.signum = iteration, signum

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if runner.iter + 1 == self.iteration:
            os.kill(os.getpid(), self.signum)


def _run(make_runner, *hooks, checkpoint=True, val_interval=100,
         **overrides):
    """The tiny Runner, 4 iterations, checkpoints every 2 (atomic)."""
    default_hooks = dict(logger=dict(type='LoggerHook', interval=1))
    default_hooks['checkpoint'] = dict(
        type='AtomicCheckpointHook', by_epoch=False, interval=2) \
        if checkpoint else None
    return make_runner(
        train_cfg=dict(by_epoch=False, max_iters=MAX_ITERS,
                       val_interval=val_interval),
        default_hooks=default_hooks,
        custom_hooks=[PreemptionHook(), *hooks], **overrides)


def test_sigterm_saves_the_iteration_and_raises(make_runner, tmp_path):
    runner = _run(make_runner, SignalAt(3, signal.SIGTERM))
    with pytest.raises(TrainingPreempted, match='after iteration 3') as info:
        runner.train()
    work = tmp_path / 'work'
    checkpoint = work / 'iter_3.pth'
    assert info.value.checkpoint == str(checkpoint)
    assert info.value.iteration == runner.iter == 3  # no 4th iteration
    assert checkpoint_damage(str(checkpoint)) is None
    saved = torch.load(checkpoint)
    assert saved['meta']['iter'] == 3
    assert 'optimizer' in saved and 'param_schedulers' in saved
    assert (work / 'last_checkpoint').read_text() == str(checkpoint)
    assert (work / 'iter_2.pth').is_file()  # the periodic one, untouched
    # the handlers are the caller's again: pytest's default SIGTERM, ...
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL


@pytest.fixture
def python_sigint():
    """Python's own SIGINT handler, as a terminal's process has it
    (pytest-xdist's workers ignore SIGINT), restored after the test."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_saves_like_sigterm_and_a_second_one_stops_at_once(
        make_runner, tmp_path, capfd, python_sigint):
    runner = _run(make_runner, SignalAt(3, signal.SIGINT))
    with pytest.raises(TrainingPreempted, match='SIGINT: stopped after '
                       'iteration 3') as info:
        runner.train()
    assert checkpoint_damage(info.value.checkpoint) is None
    assert info.value.checkpoint == str(tmp_path / 'work' / 'iter_3.pth')
    assert ('Ctrl-C: finishing this iteration and saving a checkpoint; '
            'press Ctrl-C again to stop at once') in capfd.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    # The first Ctrl-C handed SIGINT back: the second is Python's.
    runner = _run(make_runner, SignalAt(2, signal.SIGINT),
                  SignalAt(2, signal.SIGINT), work_dir=tmp_path / 'twice')
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_signal_on_a_periodic_checkpoint_saves_once(make_runner, tmp_path,
                                                    monkeypatch):
    saves = []
    original = fileio.atomic_write
    monkeypatch.setattr('segkit.engine.atomic_backend.atomic_write',
                        lambda path, data: saves.append(os.path.basename(
                            path)) or original(path, data))
    runner = _run(make_runner, SignalAt(2, signal.SIGTERM))
    with pytest.raises(TrainingPreempted, match='after iteration 2'):
        runner.train()
    assert saves.count('iter_2.pth') == 1


class SignalsHalfway:
    """A file whose write is interrupted by SIGTERM half-way through."""

    def __init__(self, file) -> None:
        self.file = file

    def __enter__(self) -> 'SignalsHalfway':
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()

    def __getattr__(self, name: str):
        return getattr(self.file, name)

    def write(self, data: bytes) -> None:
        self.file.write(data[:len(data) // 2])
        os.kill(os.getpid(), signal.SIGTERM)
        self.file.write(data[len(data) // 2:])


def test_second_signal_while_saving_is_absorbed(make_runner, tmp_path,
                                                monkeypatch):
    """Another SIGTERM half-way through writing the preemption checkpoint
    (torchrun forwards the SIGTERM Slurm already sent): the save completes
    and the previous checkpoint is intact."""
    interrupted = []

    def open_checkpoint(path, mode):
        file = open(path, mode)
        if '.iter_3.pth.' not in path:
            return file
        interrupted.append(path)
        return SignalsHalfway(file)

    monkeypatch.setattr(fileio, 'open', open_checkpoint, raising=False)
    runner = _run(make_runner, SignalAt(3, signal.SIGTERM))
    with pytest.raises(TrainingPreempted, match='SIGTERM'):
        runner.train()
    work = tmp_path / 'work'
    assert len(interrupted) == 1
    assert checkpoint_damage(str(work / 'iter_3.pth')) is None
    assert torch.load(work / 'iter_3.pth')['meta']['iter'] == 3
    assert torch.load(work / 'iter_2.pth')['meta']['iter'] == 2
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_3.pth')
    assert not list(work.glob('.*.tmp'))


def test_sigusr1_without_a_checkpoint_hook_saves_atomically(
        make_runner, tmp_path):
    runner = _run(make_runner, SignalAt(3, signal.SIGUSR1), checkpoint=False)
    with pytest.raises(TrainingPreempted, match='SIGUSR1'):
        runner.train()
    work = tmp_path / 'work'
    assert torch.load(work / 'iter_3.pth')['meta']['iter'] == 3
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_3.pth')


class WorkersDieInValidation(Hook):
    """A group signal during validation: SIGTERM, then the fetch of the
    next validation batch fails, as when its DataLoader worker died; on
    ``rank`` only, if given."""

    def __init__(self, rank=None) -> None:
        self.rank = rank

    def before_val_iter(self, runner, batch_idx, data_batch=None) -> None:
        if self.rank not in (None, get_rank()):
            return
        os.kill(os.getpid(), signal.SIGTERM)
        raise RuntimeError('DataLoader worker (pid 1) is killed by signal: '
                           'Terminated.')


def test_validation_failing_after_a_signal_stops_with_a_checkpoint(
        make_runner, tmp_path):
    runner = _run(make_runner, WorkersDieInValidation(), val_interval=3)
    with pytest.raises(TrainingPreempted, match='after iteration 3'):
        runner.train()
    assert torch.load(tmp_path / 'work' / 'iter_3.pth')['meta']['iter'] == 3
    assert 'run' not in vars(runner.val_loop)  # the loops are themselves
    assert 'run' not in vars(runner.train_loop)


@pytest.mark.slow  # a real training run
def test_validation_failing_on_one_rank_stops_every_rank(tmp_path):
    """Two ranks (gloo, two_rank_validation.py): rank 1's validation workers
    die of the signal while rank 0 has its batches and validates to the
    end. Both stop after the same iteration with its checkpoint, instead of
    rank 1 waiting at the save's barrier and rank 0 in the gathering of
    results."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = str(sock.getsockname()[1])
    script = str(Path(__file__).with_name('two_rank_validation.py'))
    outputs = [tmp_path / f'rank{rank}.out' for rank in (0, 1)]
    ranks = [start_python(
        [script, rank, port, tmp_path / 'work'], outputs[rank],
        env={**os.environ, 'OMP_NUM_THREADS': '1'}) for rank in (0, 1)]
    try:
        codes = [rank.wait(timeout=120) for rank in ranks]
    except subprocess.TimeoutExpired:
        pytest.fail('the ranks wait in different collectives')
    finally:
        for rank in ranks:
            rank.kill()
    assert codes == [EXIT_PREEMPTED] * 2, [o.read_text() for o in outputs]
    assert torch.load(tmp_path / 'work' / 'iter_2.pth')['meta']['iter'] == 2


def test_validation_failing_without_a_signal_is_an_error(make_runner):

    class Fails(Hook):

        def before_val_iter(self, runner, batch_idx, data_batch=None):
            raise RuntimeError('a bug in validation')

    runner = _run(make_runner, Fails(), val_interval=3)
    with pytest.raises(RuntimeError, match='a bug in validation'):
        runner.train()
    # however training ended, the handlers are the caller's again
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert 'run' not in vars(runner.train_loop)


def test_signal_in_the_last_iteration_lets_training_end(make_runner,
                                                        tmp_path):
    runner = _run(make_runner, SignalAt(MAX_ITERS, signal.SIGTERM))
    runner.train()
    assert runner.iter == MAX_ITERS
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_marker_file_names_the_checkpoint(make_runner, tmp_path,
                                          monkeypatch):
    marker = tmp_path / 'preempted'
    monkeypatch.setenv(PREEMPTED_MARKER_ENV, str(marker))
    runner = _run(make_runner, SignalAt(3, signal.SIGTERM))
    with pytest.raises(TrainingPreempted):
        runner.train()
    assert marker.read_text() == str(tmp_path / 'work' / 'iter_3.pth')


def test_exit_status_is_distinct():
    assert EXIT_PREEMPTED == os.EX_TEMPFAIL
    assert EXIT_PREEMPTED not in (0, 1, 2, 126, 127) and EXIT_PREEMPTED < 128


def test_unknown_signal_name_is_refused():
    with pytest.raises(ValueError, match="SIGNOPE"):
        PreemptionHook(signals=('SIGTERM', 'SIGNOPE'))
