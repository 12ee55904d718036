"""Safe loading and atomic saving of checkpoints: segkit.engine.checkpoint,
the atomic file backend and AtomicCheckpointHook."""
import contextlib
import json
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.logging import HistoryBuffer
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

from segkit.engine import atomic_backend
from segkit.engine.atomic_backend import (ATOMIC_LOCAL_BACKEND,
                                          AtomicLocalBackend)
from segkit.engine.checkpoint import (SAFE_CHECKPOINT_GLOBALS,
                                      UnsafeCheckpointError)
from segkit.utils import DataError, atomic_write, dump_json_atomic, fileio


class _CreatesFile:
    """Unpickling this calls ``open(marker, 'w')``: the file appears iff the
    payload ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, 'w')


class _GetattrEscape:
    """Fetches a non-statistic attribute through ``builtins.getattr``, the
    one builtin MMEngine checkpoints need."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '_set_default_statistics')


def _checkpoint_files(run) -> list:
    return sorted(
        osp.join(run.work_dir, f) for f in os.listdir(run.work_dir)
        if f.endswith('.pth'))


@contextlib.contextmanager
def _allowing_only(entries):
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    torch.serialization.add_safe_globals(list(entries))
    try:
        yield
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(saved)


def _all_load(files) -> bool:
    try:
        for f in files:
            torch.load(f, weights_only=True)
    except pickle.UnpicklingError:
        return False
    return True


# --- safe loading ----------------------------------------------------------


def test_allow_list_is_exactly_what_mmengine_checkpoints_need(mmengine_run):
    files = _checkpoint_files(mmengine_run)
    assert {osp.basename(f) for f in files} >= {'iter_2.pth', 'iter_4.pth'}
    assert any(osp.basename(f).startswith('best_acc_') for f in files)
    with _allowing_only(SAFE_CHECKPOINT_GLOBALS):
        assert _all_load(files)
    for entry in SAFE_CHECKPOINT_GLOBALS:
        with _allowing_only(e for e in SAFE_CHECKPOINT_GLOBALS
                            if e is not entry):
            assert not _all_load(files), f'{entry} is not needed'


def test_resume_from_mmengine_checkpoint_restores_iter_and_optimizer(
        mmengine_run, make_runner):
    path = osp.join(mmengine_run.work_dir, 'iter_4.pth')
    saved = torch.load(path)  # weights_only=True, the torch default
    assert saved['optimizer']['state'], 'SGD momentum should be saved'

    runner = make_runner(load_from=path, resume=True)
    runner.train()  # resumes at iter 4 of 4: no step changes the state

    assert runner.iter == 4
    restored = runner.optim_wrapper.state_dict()
    assert restored['param_groups'][0]['lr'] == pytest.approx(
        saved['optimizer']['param_groups'][0]['lr'])
    assert restored['state'].keys() == saved['optimizer']['state'].keys()
    for key, state in saved['optimizer']['state'].items():
        torch.testing.assert_close(restored['state'][key]['momentum_buffer'],
                                   state['momentum_buffer'])
    hub = runner.message_hub
    assert hub.get_info('best_score') == saved['message_hub']['runtime_info'][
        'best_score']
    assert isinstance(hub.get_scalar('train/loss'), HistoryBuffer)


@pytest.fixture
def payload_file(tmp_path):
    marker = tmp_path / 'payload_ran'
    path = tmp_path / 'evil.pth'
    torch.save(
        dict(state_dict=dict(w=torch.zeros(1)), meta=_CreatesFile(marker)),
        path)
    return path, marker


@pytest.mark.parametrize('entry_point', [
    'CheckpointLoader', 'load_checkpoint', 'init_cfg Pretrained',
    'Runner resume'
])
def test_payload_is_refused_on_every_load_path(entry_point, payload_file,
                                               tiny_model_cls, make_runner):
    path, marker = payload_file
    with pytest.raises(UnsafeCheckpointError) as refused:
        if entry_point == 'CheckpointLoader':
            CheckpointLoader.load_checkpoint(str(path))
        elif entry_point == 'load_checkpoint':  # apis / tools/test.py
            load_checkpoint(tiny_model_cls(), str(path))
        elif entry_point == 'init_cfg Pretrained':
            tiny_model_cls(init_cfg=dict(
                type='Pretrained', checkpoint=str(path))).init_weights()
        else:  # --resume / load_from
            make_runner(load_from=str(path), resume=True).train()
    assert str(path) in str(refused.value)
    assert 'io.open' in str(refused.value)
    assert not marker.exists()


def test_payload_behind_url_is_refused(payload_file, tmp_path, monkeypatch):
    # MMEngine hands URLs to torch.hub.load_state_dict_from_url, which passes
    # weights_only=False; pre-seed its cache so nothing is downloaded.
    path, marker = payload_file
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    cache = tmp_path / 'torch_home' / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    os.replace(path, cache / 'evil.pth')
    url = 'https://example.invalid/evil.pth'
    with pytest.raises(UnsafeCheckpointError) as refused:
        CheckpointLoader.load_checkpoint(url)
    assert url in str(refused.value) and 'io.open' in str(refused.value)
    assert not marker.exists()
    assert 'TORCH_FORCE_WEIGHTS_ONLY_LOAD' not in os.environ


def test_getattr_reaches_only_history_buffer_statistics(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save(dict(meta=_GetattrEscape()), path)
    table = dict(HistoryBuffer._statistics_methods)
    with pytest.raises(UnsafeCheckpointError, match='refused getattr'):
        CheckpointLoader.load_checkpoint(str(path))
    assert HistoryBuffer._statistics_methods == table


def test_a_file_that_is_no_checkpoint_is_said_to_be_none(tmp_path):
    path = tmp_path / 'README.md'
    path.write_text('# not a checkpoint\n')
    with pytest.raises(DataError) as refused:
        CheckpointLoader.load_checkpoint(str(path))
    assert str(refused.value) == (
        f'{path} is not a checkpoint: torch.save writes a zip archive, and '
        'this file is none (expected a .pth file that tools/train.py '
        'wrote)')


def test_refusal_is_an_unpickling_error():
    # callers that already handle torch's refusal keep working
    assert issubclass(UnsafeCheckpointError, pickle.UnpicklingError)


# --- atomic saving ---------------------------------------------------------


def test_backend_writes_exact_bytes_and_text(tmp_path):
    backend = get_file_backend(
        str(tmp_path), backend_args=dict(backend=ATOMIC_LOCAL_BACKEND))
    assert isinstance(backend, AtomicLocalBackend)
    data = bytes(range(256)) * 1000
    target = tmp_path / 'new_dir' / 'ckpt.pth'
    backend.put(data, target)
    assert target.read_bytes() == data
    backend.put_text('work/iter_4.pth', tmp_path / 'last_checkpoint')
    assert (tmp_path / 'last_checkpoint').read_text() == 'work/iter_4.pth'
    assert sorted(os.listdir(tmp_path)) == ['last_checkpoint', 'new_dir']
    assert os.listdir(tmp_path / 'new_dir') == ['ckpt.pth']


def test_dump_json_atomic_writes_numpy_metrics(tmp_path):
    out = tmp_path / 'metrics.json'
    dump_json_atomic(dict(mIoU=np.float32(0.5), IoU=np.array([0.25, 1.])),
                     out)
    assert json.loads(out.read_text()) == dict(mIoU=0.5, IoU=[0.25, 1.0])
    assert os.listdir(tmp_path) == ['metrics.json']


class _DiesHalfway:
    """A file whose write stores half the data, then fails (disk full,
    kill)."""

    def __init__(self, file):
        self.file = file

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def write(self, data):
        self.file.write(data[:len(data) // 2])
        raise KeyboardInterrupt('killed mid-write')


def test_crash_mid_write_keeps_previous_file(tmp_path, monkeypatch):
    target = tmp_path / 'iter_2.pth'
    target.write_bytes(b'previous checkpoint')
    monkeypatch.setattr(
        fileio,
        'open',
        lambda path, mode: _DiesHalfway(open(path, mode)),
        raising=False)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b'x' * 10_000)
    assert target.read_bytes() == b'previous checkpoint'
    assert os.listdir(tmp_path) == ['iter_2.pth']


@pytest.fixture
def recorded_writes(monkeypatch):
    """Basenames of every file written through atomic_write."""
    written = []

    def record(filepath, data):
        written.append(osp.basename(filepath))
        atomic_write(filepath, data)

    monkeypatch.setattr(atomic_backend, 'atomic_write', record)
    return written


def _atomic_hook(**kwargs):
    return dict(
        checkpoint=dict(
            type='AtomicCheckpointHook',
            by_epoch=False,
            interval=2,
            max_keep_ckpts=1,
            save_best='acc',
            rule='greater',
            **kwargs))


def test_atomic_hook_routes_every_write_and_checkpoints_load_back(
        make_runner, recorded_writes):
    runner = make_runner(default_hooks=_atomic_hook())
    runner.train()

    work = runner.work_dir
    assert {'iter_2.pth', 'iter_4.pth', 'last_checkpoint'} <= set(
        recorded_writes)
    assert any(name.startswith('best_acc_') for name in recorded_writes)
    # max_keep_ckpts=1 removed iter_2 through the backend's isfile/remove
    files = os.listdir(work)
    assert 'iter_2.pth' not in files and 'iter_4.pth' in files
    assert not [f for f in files if f.endswith('.tmp')]
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work, 'iter_4.pth')
    saved = torch.load(osp.join(work, 'iter_4.pth'))
    for key, value in runner.model.state_dict().items():
        torch.testing.assert_close(saved['state_dict'][key], value)


def test_crash_while_saving_leaves_a_resumable_run(make_runner,
                                                   monkeypatch):
    # Upstream CheckpointHook deletes iter_2 before writing iter_4: a crash
    # there left last_checkpoint naming a deleted file.
    def crash_on_iter_4(filepath, data):
        if osp.basename(filepath) == 'iter_4.pth':
            raise KeyboardInterrupt('killed while saving iter_4.pth')
        atomic_write(filepath, data)

    monkeypatch.setattr(atomic_backend, 'atomic_write', crash_on_iter_4)
    runner = make_runner(default_hooks=_atomic_hook())
    with pytest.raises(KeyboardInterrupt):
        runner.train()

    work = runner.work_dir
    assert 'iter_4.pth' not in os.listdir(work)
    with open(osp.join(work, 'last_checkpoint')) as f:
        pointed = f.read()
    assert pointed == osp.join(work, 'iter_2.pth')
    assert torch.load(pointed)['meta']['iter'] == 2
