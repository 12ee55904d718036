"""A new user's first hour, on a fresh clone without ../shared beside it:
the commands of README.md and docs/guides/ run (on the bundled samples),
overrides work as docs/guides/03-configs.md says, and every mistake of the
user's is one line on stderr.

Each test runs the real tools in subprocesses on tiny models, so the module
costs about two minutes; it is marked slow."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
import torch
from mmengine.config import Config

from segkit.apis import init_model
from tool_process import run_python, succeeded

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TINY = ['model.backbone.base_channels=4', 'model.backbone.depth=2',
        'model.data_preprocessor.size_divisor=4',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False']
# quickstart.sh's EfficientNet-Lite0 U-Net with a narrow decoder, batch 2.
EFFL0_TINY = ['model.decode_head.decoder_channels=(8,8,8,8,8)', *TINY[3:]]
# The first 4 of the 16 validation frames of the Carvana sample.
FEW_VAL = ['val_dataloader.dataset.indices=4',
           'test_dataloader.dataset.indices=4']


@pytest.fixture(scope='module')
def clone(tmp_path_factory) -> Path:
    """The repository's files (committed or not, ignored ones left out) in
    a folder with no ``shared/`` beside it: what ``git clone`` gives."""
    root = tmp_path_factory.mktemp('fresh') / 'segkit'
    listed = subprocess.run(
        ['git', 'ls-files', '-z', '--cached', '--others',
         '--exclude-standard'], cwd=REPO, capture_output=True, check=True)
    for name in listed.stdout.decode().split('\0'):
        if name and (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    assert not (root.parent / 'shared').exists()
    return root


def environment(clone: Path, **extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ('CAMVID_ROOT', 'CARVANA_ROOT', 'ISBI_ROOT',
                        'SEGKIT_DEBUG')}
    return dict(env, PYTHONPATH=str(clone), **extra)


def run(clone: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return run_python(args, cwd=clone, env=environment(clone, **env))


def user_error(proc: subprocess.CompletedProcess) -> List[str]:
    """The lines of a user error: status 1, no traceback anywhere."""
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'Traceback' not in proc.stdout + proc.stderr
    return proc.stderr.splitlines()


@pytest.fixture(scope='module')
def camvid_checkpoint(tmp_path_factory) -> Path:
    """Initial weights of a tiny CamVid U-Net (11 classes), as a Runner
    checkpoint: something to infer with and to fine-tune from."""
    options = {k: int(v) for k, v in (o.split('=') for o in TINY[:3])}
    model = init_model(str(REPO / 'configs' / 'unet_camvid_quick.py'),
                       cfg_options=options)
    path = tmp_path_factory.mktemp('ckpt') / 'camvid_tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return path


def test_misspelt_key_is_refused_before_anything_is_built(clone):
    config = 'configs/unet_camvid_quick.py'
    assert user_error(run(
        clone, 'tools/train.py', config, '--cfg-options',
        'train_cfg.max_iter=30')) == [
            f'error: --cfg-options train_cfg.max_iter: train_cfg '
            f'(TimeBudgetTrainLoop) of {config} has no key \'max_iter\'; did '
            "you mean 'train_cfg.max_iters'?"]


def test_readme_sliding_window_override_runs_inference(
        clone, camvid_checkpoint, tmp_path):
    image = 'data/camvid_sample/val/0016E5_07959.png'
    succeeded(run(clone, 'tools/infer.py', 'configs/unet_camvid_quick.py',
                  str(camvid_checkpoint), image, '--out-dir', str(tmp_path),
                  '--cfg-options', 'model.test_cfg.mode=slide',
                  'model.test_cfg.crop_size=128', 'model.test_cfg.stride=96',
                  *TINY[:3]))
    assert (tmp_path / '0016E5_07959.png').is_file()


def test_readme_held_out_sequence_command_scores_only_that_sequence(
        clone, tmp_path):
    # The names are quoted, as docs/guides/02-your-own-dataset.md writes
    # them: MMEngine alone would read 0016E5 as 1600000.0.
    succeeded(run(
        clone, 'tools/train.py', 'configs/unet_camvid_quick.py', '--work-dir',
        str(tmp_path), '--cfg-options',
        "train_dataloader.dataset.sequences=['0006R0','0016E5']",
        "val_dataloader.dataset.sequences=['0001TP']",
        'val_dataloader.dataset.data_prefix.img_path=train',
        'val_dataloader.dataset.data_prefix.seg_map_path=train_labels',
        'train_cfg.max_iters=1', 'train_cfg.val_interval=1', *TINY))
    held_out = sorted(
        (clone / 'data/camvid_sample/train').glob('0001TP_*.png'))
    [log] = tmp_path.glob('2*/2*.log')
    assert held_out and (f'Iter(val) [{len(held_out)}/{len(held_out)}]'
                         in log.read_text())
    [config] = tmp_path.glob('2*/vis_data/config.py')
    ran = Config.fromfile(config)
    assert ran.train_dataloader.dataset.sequences == ['0006R0', '0016E5']


def test_user_errors_are_one_line(clone, tmp_path):
    bad_root = run(clone, 'tools/train.py', 'configs/unet_carvana.py',
                   CARVANA_ROOT='/nope')
    assert bad_root.stdout == ''  # not MMEngine's INFO on the substitution
    assert user_error(bad_root) == [
        'error: CARVANA_ROOT=/nope does not exist: expected a folder with '
        'train/<car>_<view>.jpg and train_masks/<car>_<view>_mask.gif (or '
        'train_masks.csv); point it at your copy, or at the bundled sample: '
        'CARVANA_ROOT=data/carvana_sample']
    no_csv = tmp_path / 'camvid'
    shutil.copytree(clone / 'data' / 'camvid_sample', no_csv)
    (no_csv / 'class_dict.csv').unlink()
    assert user_error(run(clone, 'tools/browse_dataset.py',
                          'configs/unet_camvid.py', '--cfg-options',
                          f'data_root={no_csv}')) == [
        f"error: class_dict file '{no_csv}/class_dict.csv' does not exist: "
        'expected a csv with the header name,r,g,b; copy the release\'s '
        "class_dict.csv there, or set the dataset's class_dict to the path "
        'of yours']
    assert user_error(run(clone, 'tools/train.py',
                          'configs/unet_camvid_quik.py')) == [
        'error: config file not found: configs/unet_camvid_quik.py; did you '
        'mean configs/unet_camvid_quick.py?']
    assert user_error(run(clone, 'tools/test.py', 'configs/unet_camvid.py',
                          'nope.pth')) == [
        'error: checkpoint not found: nope.pth: expected a .pth file that '
        'tools/train.py wrote (work_dirs/<config>/best_*.pth or iter_*.pth) '
        'or an .onnx file from tools/export.py']
    debug = run(clone, 'tools/train.py', 'configs/nope.py', '--debug')
    assert debug.returncode == 1 and 'Traceback' in debug.stderr


@pytest.fixture(scope='module')
def carvana_run(clone, camvid_checkpoint, tmp_path_factory):
    """docs/guides/05-training.md's fine-tuning command on a fresh clone, shortened, fine-tuned
    from the CamVid weights (another head): first strictly, then not."""
    work_dir = tmp_path_factory.mktemp('carvana')
    args = ['tools/train.py', 'configs/unet_carvana.py', '--work-dir',
            str(work_dir), '--load-from', str(camvid_checkpoint)]
    options = ['--cfg-options', 'train_cfg.max_iters=2',
               'train_cfg.val_interval=2', *TINY, *FEW_VAL]
    refused = run(clone, *args, *options)
    log = succeeded(run(clone, *args, '--no-strict', *options))
    return work_dir, refused, log


def test_fresh_clone_trains_carvana_on_the_bundled_sample(carvana_run):
    _, _, log = carvana_run
    assert (
        'data_root ../shared/data/carvana_format (the default of '
        'configs/unet_carvana.py) does not exist: using the bundled sample '
        'data/carvana_sample, enough to try the tools, not to learn the '
        'task; for the full set, set CARVANA_ROOT=PATH or pass --cfg-options '
        'data_root=PATH') in log


def test_run_length_scales_the_schedule_and_explicit_values_win(
        carvana_run):
    work_dir, _, log = carvana_run
    # val_interval was set in the same command: kept, not reported
    assert ('train_cfg.max_iters 10000 -> 2 scales the schedule: LinearLR '
            '0-200 -> 0-1, PolyLR 200-10000 -> 1-2, checkpoint interval '
            '1000 -> 1') in log
    [config] = work_dir.glob('2*/vis_data/config.py')
    ran = Config.fromfile(config)
    assert ran.train_cfg.val_interval == 2
    assert [s['end'] for s in ran.param_scheduler] == [1, 2]


def test_fine_tuning_names_the_flag_and_no_strict_loads_what_fits(
        carvana_run, camvid_checkpoint):
    work_dir, refused, log = carvana_run
    lines = user_error(refused)
    assert lines[0].startswith(f'error: checkpoint {camvid_checkpoint} fits ')
    assert lines[-1].startswith('To load the ')
    assert lines[-1].endswith("tensor(s) that fit and keep the model's own "
                              'values for the rest, rerun with --no-strict.')
    assert 'decode_head' in refused.stderr  # the head of 11 classes vs 1
    assert (work_dir / 'iter_2.pth').is_file()
    assert 'Only the tensors that fit were loaded' in log


def test_test_tool_runs_flip_tta_with_a_whole_dict_override(
        clone, carvana_run):
    work_dir, _, _ = carvana_run
    out = work_dir / 'tta.json'
    succeeded(run(clone, 'tools/test.py', 'configs/unet_carvana.py',
                  str(work_dir / 'iter_2.pth'), '--tta', '--work-dir',
                  str(work_dir / 'tta'), '--out', str(out), '--cfg-options',
                  "model.test_cfg=dict(mode='slide',crop_size=256,"
                  "stride=192)", *TINY, *FEW_VAL))
    assert 0 <= json.loads(out.read_text())['Dice'] <= 1
    [config] = (work_dir / 'tta').glob('2*/vis_data/config.py')
    test_cfg = Config.fromfile(config).model.test_cfg
    assert test_cfg.flip is True
    assert (test_cfg.mode, test_cfg.crop_size, test_cfg.stride) == (
        'slide', 256, 192)


def test_quickstart_gives_its_overrides_to_testing_too(clone):
    # The environment is given: a .venv whose python is this one, stamped
    # as installed so that setup_env.sh installs nothing.
    venv = clone / '.venv' / 'bin'
    venv.mkdir(parents=True)
    (venv / 'python').write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    (venv / 'python').chmod(0o755)
    stamp = subprocess.run(
        'cat requirements.txt setup.py | sha256sum | cut -d" " -f1',
        shell=True, cwd=clone, capture_output=True, text=True, check=True)
    (clone / '.venv' / '.segkit-installed').write_text(stamp.stdout)
    proc = subprocess.run(
        ['bash', 'tools/quickstart.sh', '--cfg-options',
         'train_cfg.max_iters=1', *EFFL0_TINY],
        cwd=clone, text=True, capture_output=True, timeout=600,
        env=environment(clone))
    # decoder_channels reached testing too, or the 8-channel checkpoint
    # would not fit the config's wider decoder
    succeeded(proc)
    work_dir = 'work_dirs/unet_effl0_camvid_quick'
    assert (f'checkpoint: {clone / work_dir}/best_mIoU_iter_1.pth, the best '
            f'of the last run in {work_dir}\n') in proc.stdout
    metrics = clone / work_dir / 'test_metrics.json'
    assert 0 <= json.loads(metrics.read_text())['mIoU'] <= 1
