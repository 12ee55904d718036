"""Crash safety of real training runs (tools/train.py on the bundled CamVid
sample): a run killed with SIGKILL mid-way and resumed ends exactly where an
uninterrupted run ends; a damaged newest checkpoint is passed over; the
atomic writer leaves no torn checkpoint even when killed mid-write; and a
fixed seed gives the same losses twice.

The runs are tiny (4-channel U-Net, 12 iterations); the uninterrupted and
the killed run train side by side, then both resumes, to keep the file
well under a minute of wall time on two cores."""
import io
import json
import multiprocessing
import os
import re
import shutil
import signal
import time
from pathlib import Path
from typing import Dict, List, NamedTuple

import pytest
import torch

from segkit.utils import fileio
from segkit.engine.resume import checkpoint_damage, find_resume_checkpoint
from tool_process import start_python

pytestmark = pytest.mark.slow  # runs the real tools in subprocesses

REPO = Path(__file__).resolve().parents[2]
CONFIG = 'configs/unet_camvid_quick.py'
MAX_ITERS, INTERVAL = 12, 4
# The kill waits until the log is this far past the first checkpoint.
KILL_AFTER_ITER = 6
OPTIONS = [
    'model.backbone.base_channels=4', 'model.backbone.depth=3',
    'model.data_preprocessor.size_divisor=8',
    'train_dataloader.batch_size=2', 'train_dataloader.num_workers=1',
    'val_dataloader.num_workers=1', f'train_cfg.max_iters={MAX_ITERS}',
    'train_cfg.val_interval=100', f'default_hooks.checkpoint.interval='
    f'{INTERVAL}', 'default_hooks.logger.interval=1',
    'randomness.deterministic=True', 'randomness.seed=0',
    'custom_hooks=[]'  # no panels or report.html: not under test here
]
# Two runs share two cores: one thread each rather than four fighting.
# Every run compared here uses the same setting.
ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}
TIMEOUT_S = 300
ITER_LINE = re.compile(rf'Iter\(train\) \[\s*(\d+)/{MAX_ITERS}\]')
RESUMED = re.compile(r'resumed epoch: \d+, iter: (\d+)')


class Run(NamedTuple):
    """A finished (or killed) tools/train.py process."""
    work_dir: Path
    output: str
    losses: Dict[int, float]  # iteration -> loss, from its scalars.json


class Training:
    """A tools/train.py process in its own session (so that killing the
    group kills its dataloader workers too), its output in a file."""

    def __init__(self, work_dir: Path, *extra: str) -> None:
        self.work_dir = work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
        self.log_dirs_before = set(work_dir.glob('2*'))
        self.out_path = work_dir.with_suffix('.out')
        self.proc = start_python(
            ['tools/train.py', CONFIG, '--work-dir', work_dir, *extra,
             '--cfg-options', f'data_root={REPO / "data" / "camvid_sample"}',
             *OPTIONS], self.out_path, env=ENV, new_session=True)

    def output(self) -> str:
        """The console, then this run's log file: the environment, the
        ``Iter(train)`` lines and the resume line are in the log only."""
        logs = sorted(log for folder in set(self.work_dir.glob('2*'))
                      - self.log_dirs_before for log in folder.glob('*.log'))
        return self.out_path.read_text() + ''.join(
            log.read_text() for log in logs)

    def run(self) -> Run:
        """This run's own log folder (a resumed work dir has several)."""
        log_dir, = set(self.work_dir.glob('2*')) - self.log_dirs_before
        return Run(self.work_dir, self.output(),
                   scalars_losses(log_dir / 'vis_data' / 'scalars.json'))

    def finish(self) -> Run:
        code = self.proc.wait(timeout=TIMEOUT_S)
        assert code == 0, self.output()[-4000:]
        return self.run()

    def kill_after(self, iteration: int) -> Run:
        """SIGKILL the whole group once the first checkpoint is on disk and
        the log has reached ``iteration``."""
        deadline = time.monotonic() + TIMEOUT_S
        while (max(logged_iters(self.output()), default=0) < iteration
               or not (self.work_dir / f'iter_{INTERVAL}.pth').exists()):
            assert self.proc.poll() is None, (
                'the run ended before it could be killed:\n'
                + self.output()[-4000:])
            assert time.monotonic() < deadline, 'the run never got there'
            time.sleep(0.02)
        os.killpg(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(timeout=60) == -signal.SIGKILL
        return self.run()


def logged_iters(output: str) -> List[int]:
    return [int(i) for i in ITER_LINE.findall(output)]


def scalars_losses(path: Path) -> Dict[int, float]:
    """Per-iteration training loss (logger interval 1: no smoothing). A
    killed run may have died mid-line: an unterminated last line is not a
    record."""
    text = path.read_text()
    records = text.splitlines()
    if not text.endswith('\n'):
        records = records[:-1]
    return {
        row['iter']: row['loss']
        for row in map(json.loads, records) if 'loss' in row
    }


def ckpt_iter(path: Path) -> int:
    return int(re.fullmatch(r'iter_(\d+)\.pth', path.name).group(1))


@pytest.fixture(scope='module')
def runs(tmp_path_factory) -> Dict[str, Run]:
    """``full``: uninterrupted; ``killed``: SIGKILLed mid-interval, and its
    work dir as found then (``killed_dir``); ``resumed``: ``--resume`` of
    it; ``damaged``: ``--resume`` of a copy of ``full`` whose
    ``last_checkpoint`` names a torn ``iter_12.pth``."""
    root = tmp_path_factory.mktemp('fault')
    full = Training(root / 'full')
    killed = Training(root / 'killed').kill_after(KILL_AFTER_ITER)
    killed_dir = root / 'killed_as_found'
    shutil.copytree(killed.work_dir, killed_dir)
    resumed = Training(killed.work_dir, '--resume')
    full_run = full.finish()

    damaged_dir = root / 'damaged'
    damaged_dir.mkdir()
    for step in (8, 12):
        shutil.copy(full_run.work_dir / f'iter_{step}.pth', damaged_dir)
    torn = damaged_dir / 'iter_12.pth'
    torn.write_bytes(torn.read_bytes()[:torn.stat().st_size // 2])
    (damaged_dir / 'last_checkpoint').write_text(str(torn))
    damaged = Training(damaged_dir, '--resume')
    return dict(full=full_run, killed=killed, killed_dir=killed_dir,
                resumed=resumed.finish(), damaged=damaged.finish())


def test_same_seed_gives_identical_losses(runs):
    """The killed run is a second run of the same config, up to the
    kill: with seed 0 and deterministic mode its losses are bit-identical
    (random crops, flips and photometric jitter included)."""
    full, killed = runs['full'], runs['killed']
    assert 'deterministic: True' in full.output
    assert sorted(full.losses) == list(range(1, MAX_ITERS + 1))
    assert len(killed.losses) >= KILL_AFTER_ITER
    assert killed.losses == {i: full.losses[i] for i in killed.losses}
    assert len(set(full.losses.values())) > 1  # not a constant


def test_sigkill_leaves_only_complete_checkpoints(runs):
    killed_dir = runs['killed_dir']
    checkpoints = sorted(killed_dir.glob('iter_*.pth'), key=ckpt_iter)
    assert checkpoints and all(
        checkpoint_damage(str(c)) is None for c in checkpoints)
    newest = checkpoints[-1]
    assert ckpt_iter(newest) < MAX_ITERS
    pointer = (killed_dir / 'last_checkpoint').read_text()
    assert Path(pointer).name == newest.name
    # Killed mid-interval: training had got past its newest checkpoint.
    assert max(logged_iters(runs['killed'].output)) > ckpt_iter(newest)


def test_resume_after_sigkill_reproduces_the_uninterrupted_run(runs):
    """Exact equality, no tolerance: resuming restores weights, optimiser,
    LR schedule and message hub from the checkpoint, and MMEngine's
    IterBasedTrainLoop replays the data stream (seeded InfiniteSampler,
    fixed worker seeds) for the iterations already done, so iteration N+1
    sees the same batch and the same weights as in the uninterrupted run."""
    full, resumed = runs['full'], runs['resumed']
    start = ckpt_iter(max(runs['killed_dir'].glob('iter_*.pth'),
                          key=ckpt_iter))
    assert RESUMED.findall(resumed.output) == [str(start)]
    assert logged_iters(resumed.output)[0] == start + 1
    assert sorted(resumed.losses) == list(range(start + 1, MAX_ITERS + 1))
    assert resumed.losses == {i: full.losses[i] for i in resumed.losses}

    final = torch.load(resumed.work_dir / f'iter_{MAX_ITERS}.pth')
    reference = torch.load(full.work_dir / f'iter_{MAX_ITERS}.pth')
    assert final['meta']['iter'] == MAX_ITERS
    for key, value in reference['state_dict'].items():
        assert torch.equal(final['state_dict'][key], value), key
    for key, state in reference['optimizer']['state'].items():
        for name, value in state.items():
            assert torch.equal(final['optimizer']['state'][key][name],
                               value), (key, name)


def test_resume_passes_over_a_torn_last_checkpoint(runs):
    full, damaged = runs['full'], runs['damaged']
    assert re.search(r'passed over: \S*iter_12\.pth \(named by \S*'
                     r'last_checkpoint\): BadZipFile', damaged.output)
    assert RESUMED.findall(damaged.output) == ['8']
    assert damaged.losses == {i: full.losses[i] for i in range(9, 13)}
    final = damaged.work_dir / f'iter_{MAX_ITERS}.pth'
    assert checkpoint_damage(str(final)) is None
    assert torch.load(final)['meta']['iter'] == MAX_ITERS


# --- find_resume_checkpoint on hand-made work dirs --------------------------


def _save(path: Path, step: int) -> Path:
    torch.save(dict(meta=dict(iter=step)), path)
    return path


def _tear(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def test_last_checkpoint_wins_when_complete(tmp_path):
    # A later-numbered file from an older run must not win over the pointer.
    _save(tmp_path / 'iter_600.pth', 600)
    current = _save(tmp_path / 'iter_300.pth', 300)
    (tmp_path / 'last_checkpoint').write_text(str(current))
    assert find_resume_checkpoint(str(tmp_path)) == str(current)


@pytest.mark.parametrize('pointer', ['missing', 'empty', 'torn', 'deleted'])
def test_falls_back_to_newest_complete_checkpoint(tmp_path, pointer):
    older = _save(tmp_path / 'iter_4.pth', 4)
    _save(tmp_path / 'iter_8.pth', 8)
    newest = _save(tmp_path / 'iter_12.pth', 12)
    _tear(newest)
    names = dict(empty='', torn=str(newest),
                 deleted=str(tmp_path / 'iter_16.pth'))
    if pointer in names:
        (tmp_path / 'last_checkpoint').write_text(names[pointer])
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path /
                                                        'iter_8.pth')
    os.remove(tmp_path / 'iter_8.pth')
    assert find_resume_checkpoint(str(tmp_path)) == str(older)


def test_nothing_complete_is_an_error_and_nothing_at_all_is_none(tmp_path):
    assert find_resume_checkpoint(str(tmp_path)) is None
    assert find_resume_checkpoint(str(tmp_path / 'absent')) is None
    torn = _save(tmp_path / 'iter_4.pth', 4)
    _tear(torn)
    with pytest.raises(FileNotFoundError, match=r'iter_4\.pth: BadZipFile'):
        find_resume_checkpoint(str(tmp_path))


def test_corrupted_member_is_damage(tmp_path):
    path = tmp_path / 'iter_4.pth'
    torch.save(dict(meta=dict(note='marker')), path)
    data = path.read_bytes()
    assert data.count(b'marker') == 1  # in the pickle, not in a zip header
    path.write_bytes(data.replace(b'marker', b'MARKER'))
    assert 'data.pkl is corrupt' in checkpoint_damage(str(path))


# --- the atomic writer under a real SIGKILL ----------------------------------


class _StallsHalfway:
    """A file whose write stores half the data, then hangs: the process is
    killed mid-write, with no chance to clean up."""

    def __init__(self, file) -> None:
        self.file = file

    def __enter__(self) -> '_StallsHalfway':
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()

    def write(self, data: bytes) -> None:
        self.file.write(data[:len(data) // 2])
        self.file.flush()
        time.sleep(TIMEOUT_S)


def _serialized(step: int) -> bytes:
    buffer = io.BytesIO()
    torch.save(dict(meta=dict(iter=step), weights=torch.arange(1000.)),
               buffer)
    return buffer.getvalue()


def _write_twice(target: str, first: bytes, second: bytes) -> None:
    """Child process: one complete write, then one that stalls halfway."""
    fileio.atomic_write(target, first)
    fileio.open = lambda path, mode: _StallsHalfway(open(path, mode))
    fileio.atomic_write(target, second)


def _temporary_file_sizes(target: Path) -> List[int]:
    """Sizes of the atomic writes' temporary files of ``target`` now; one
    renamed away between the listing and its stat (the first, complete
    write's) is not there any more and is left out."""
    sizes = []
    for path in target.parent.glob(f'.{target.name}.*.tmp'):
        try:
            sizes.append(path.stat().st_size)
        except FileNotFoundError:
            continue
    return sizes


def test_sigkill_mid_write_leaves_the_previous_checkpoint(tmp_path):
    target = tmp_path / 'iter_8.pth'
    first, second = _serialized(8), _serialized(12)
    # fork: the child starts with segkit already imported.
    child = multiprocessing.get_context('fork').Process(
        target=_write_twice, args=(str(target), first, second))
    child.start()
    deadline = time.monotonic() + TIMEOUT_S
    while len(second) // 2 not in _temporary_file_sizes(target):
        assert child.is_alive() and time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.join()

    assert child.exitcode == -signal.SIGKILL
    assert target.read_bytes() == first
    torn, = tmp_path.glob(f'.{target.name}.*.tmp')  # left, never renamed
    assert checkpoint_damage(str(torn)) is not None
    assert find_resume_checkpoint(str(tmp_path)) == str(target)
