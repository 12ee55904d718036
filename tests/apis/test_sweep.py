"""Sweeps: every variant checked before a run starts, commands that carry
each override exactly, and tools/sweep.py running, failing and stopping
real runs."""
import json
import subprocess
from pathlib import Path

import pytest

from segkit.apis.cli import parse_override_value
from segkit.apis.config_keys import ConfigKeyError
from segkit.apis.sweep import Variant, read_sweep
from segkit.utils import ConfigValueError
from tool_process import run_python

REPO = Path(__file__).resolve().parents[2]
QUICK = 'configs/unet_camvid_quick.py'
# A tiny U-Net on the bundled sample, scored on 2 val frames.
TINY = {'model.backbone.base_channels': 4, 'model.backbone.depth': 2,
        'model.data_preprocessor.size_divisor': 4,
        'train_dataloader.batch_size': 2, 'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False,
        'val_dataloader.dataset.indices': 2,
        'data_root': 'data/camvid_sample'}


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)  # configs are named as from the repository


def write_sweep(folder: Path, text: str) -> str:
    path = folder / 'sweep.py'
    path.write_text(text)
    return str(path)


def test_variants_inherit_the_default_config_and_the_common_options(
        tmp_path):
    path = write_sweep(tmp_path, f"""
config = '{QUICK}'
_WD = {{'optim_wrapper.optimizer.weight_decay': 0.05}}
variants = dict(
    base=dict(),
    wd=dict(options=_WD),
    r18=dict(config='configs/unet_r18_camvid_quick.py',
             options={{'train_cfg.max_iters': 5}}),
)
""")
    variants = read_sweep(path, {'train_cfg.max_iters': 3},
                          only=['r18', 'base'])
    assert variants == [  # the file's order; the variant's own value wins
        Variant('base', QUICK, {'train_cfg.max_iters': 3}),
        Variant('r18', 'configs/unet_r18_camvid_quick.py',
                {'train_cfg.max_iters': 5})]


def test_commands_carry_every_value_exactly():
    options = {'val_dataloader.dataset.sequences': ['0016E5', '0001TP'],
               'model.backbone.backbone': dict(
                   _delete_=True, type='TorchvisionBackbone',
                   out_indices=(0, 1, 2, 3)),
               'optim_wrapper.optimizer.weight_decay': 0.05,
               'randomness.seed': 1, 'model.test_cfg.flip': True,
               'data_root': 'a b/c', 'x.y': None}
    command = Variant('v', QUICK, options).command('work')
    assert command[1:5] == ['tools/train.py', QUICK, '--work-dir',
                            str(Path('work') / 'v')]
    items = command[command.index('--cfg-options') + 1:]
    carried = {}
    for item in items:
        key, _, text = item.partition('=')
        carried[key] = parse_override_value(text)
    assert carried == options
    assert carried['val_dataloader.dataset.sequences'][0] == '0016E5'
    assert isinstance(carried['model.backbone.backbone']['out_indices'],
                      tuple)


def test_a_misspelt_key_names_the_sweep_and_the_variant(tmp_path):
    path = write_sweep(tmp_path, f"""
config = '{QUICK}'
variants = dict(good=dict(), bad=dict(options={{'train_cfg.max_iter': 5}}))
""")
    with pytest.raises(ConfigKeyError) as error:
        read_sweep(path)
    assert str(error.value).startswith(f"{path}, variant 'bad': ")
    assert "did you mean 'train_cfg.max_iters'?" in str(error.value)


@pytest.mark.parametrize('text, message', [
    ("config = 'x.py'\n", 'expected `variants = dict(name=dict('),
    ("variants = dict(a=dict())\nconfigs = 'x.py'\n",
     "unknown names ['configs']"),
    ("variants = dict(a=dict(option={}))\n",
     "variant 'a': expected a dict with the keys ('config', 'options')"),
    ("variants = dict(a=dict())\n", "variant 'a': no config"),
    (f"config = '{QUICK}'\nvariants = dict(a=dict(options={{'x': {{1}}}}))\n",
     "variant 'a': x={1} does not survive a command line"),
    ("variants = {'a/b': dict()}\nconfig = 'x.py'\n",
     "variant 'a/b': expected a name that can be a folder name"),
    ("variants = dict(a=dict(config='configs/nope.py'))\n",
     "variant 'a': config file not found: configs/nope.py"),
])
def test_malformed_sweeps_are_refused(tmp_path, text, message):
    path = write_sweep(tmp_path, text)
    with pytest.raises((ConfigValueError, FileNotFoundError)) as error:
        read_sweep(path)
    assert message in str(error.value)


def test_only_names_a_missing_variant(tmp_path):
    path = write_sweep(tmp_path, f"config = '{QUICK}'\n"
                       'variants = dict(a=dict(), b=dict())\n')
    with pytest.raises(ConfigValueError, match=r"--only \['c'\]: .* has no "
                       r"such variant; expected some of \['a', 'b'\]"):
        read_sweep(path, only=['a', 'c'])


@pytest.mark.parametrize('path', sorted(
    str(p.relative_to(REPO)) for p in (REPO / 'configs/sweeps').glob('*.py')))
def test_shipped_sweep_files_pass_their_checks(path):
    variants = read_sweep(path)
    assert variants and all(Path(v.config).is_file() for v in variants)


def sweep_tool(*args: str) -> subprocess.CompletedProcess:
    return run_python(['tools/sweep.py', *args])


@pytest.mark.slow
def test_sweep_runs_variants_in_parallel_and_compares_them(tmp_path):
    path = write_sweep(tmp_path, f"""
config = '{QUICK}'
variants = dict(
    lr_high=dict(options={{'optim_wrapper.optimizer.lr': 1e-2}}),
    lr_low=dict(options={{'optim_wrapper.optimizer.lr': 1e-4}}),
    broken=dict(options={{'data_root': '{tmp_path}/nope'}}),
)
""")
    work = tmp_path / 'work'
    options = [f'{k}={v!r}' for k, v in TINY.items()]
    proc = sweep_tool(path, '--work-dir', str(work), '--parallel', '2',
                      '--cfg-options', 'train_cfg.max_iters=2',
                      'train_cfg.val_interval=2', *options)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"failed: ['broken']; see {work}/<name>/console.log")
    outcomes = {o['name']: o for o in json.loads(
        (work / 'sweep.json').read_text())}
    assert {n: o['status'] for n, o in outcomes.items()} == {
        'lr_high': 'finished', 'lr_low': 'finished', 'broken': 'failed'}
    assert outcomes['broken']['returncode'] == 1
    assert 'does not exist' in (work / 'broken' / 'console.log').read_text()
    table = proc.stdout[proc.stdout.index('run '):]
    rows = [line.split()[0] for line in table.splitlines()[2:4]]
    assert rows == ['lr_high', 'lr_low']
    assert 'mIoU' in table.splitlines()[0]
    assert (work / 'compare' / 'val_mIoU.png').is_file()
    for name, lr in (('lr_high', 'lr=0.01,'), ('lr_low', 'lr=0.0001,')):
        [config] = (work / name).glob('2*/vis_data/config.py')
        assert lr in config.read_text()  # each run got its own value


@pytest.mark.slow
def test_the_deadline_stops_a_run_with_a_checkpoint(tmp_path):
    path = write_sweep(tmp_path, f"config = '{QUICK}'\n"
                       'variants = dict(long=dict(), never=dict())\n')
    work = tmp_path / 'work'
    options = [f'{k}={v!r}' for k, v in TINY.items()]
    proc = sweep_tool(path, '--work-dir', str(work), '--minutes', '0.3',
                      '--cfg-options', 'train_cfg.max_iters=100000',
                      *options)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outcomes = {o['name']: o for o in json.loads(
        (work / 'sweep.json').read_text())}
    assert outcomes['long']['status'] == 'stopped at the deadline'
    assert outcomes['long']['returncode'] == 75  # EXIT_PREEMPTED
    assert list((work / 'long').glob('iter_*.pth'))
    assert outcomes['never'] == {
        'name': 'never', 'command': outcomes['never']['command'],
        'status': 'not started', 'returncode': None, 'seconds': None}
