"""The deployment path through the real tools: export a checkpoint, score
the ONNX file with tools/test.py, and write a Kaggle submission from
unlabelled images with tools/infer.py, with either backend."""
import json
import re
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.runner import save_checkpoint

from segkit.apis import init_model
from segkit.datasets.rle import read_rle_csv, rle_decode
from tiny_models import tiny_options
from tool_process import run_python, succeeded

pytestmark = pytest.mark.slow  # runs the real tools in subprocesses

REPO = Path(__file__).resolve().parents[2]


def run(tool: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    proc = run_python([f'tools/{tool}', *args])
    if ok:
        succeeded(proc)
    return proc


def tiny_model(root: Path, config: str):
    """A seeded tiny checkpoint of ``config`` and the --cfg-options that
    build the same tiny model."""
    options = tiny_options(config)
    torch.manual_seed(0)
    model = init_model(str(REPO / 'configs' / config), cfg_options=options)
    checkpoint = root / f'{Path(config).stem}.pth'
    save_checkpoint({'state_dict': model.state_dict(), 'meta': {}},
                    str(checkpoint))
    return str(checkpoint), [f'{k}={v}' for k, v in options.items()]


def export(config: str, checkpoint: str, options: list, out: Path,
           *extra: str) -> str:
    proc = run('export.py', f'configs/{config}', checkpoint, '--out',
               str(out), '--dynamic', *extra, '--cfg-options', *options)
    return proc.stdout


@pytest.fixture(scope='module')
def exported(tmp_path_factory, camvid_sample_root):
    """One tools/export.py run of a tiny U-Net: dynamic shapes, checked on
    a real frame, and its int8 version calibrated on 2 training images;
    the checkpoint, its --cfg-options (with the sample's data_root) and
    the tool's output."""
    root = tmp_path_factory.mktemp('export')
    checkpoint, options = tiny_model(root, 'unet_camvid_quick.py')
    options.append(f'data_root={camvid_sample_root}')
    frame = sorted((camvid_sample_root / 'val').glob('*.png'))[0]
    log = export('unet_camvid_quick.py', checkpoint, options,
                 root / 'model.onnx', '--check', str(frame), '--int8',
                 '--calib', '2')
    return root, checkpoint, options, log


def test_export_then_score_the_onnx_file_as_the_checkpoint(exported):
    root, checkpoint, options, log = exported
    assert re.search(r'^OK: targets', log, re.M), log
    assert len(re.findall(r'^\S+\.png +\d+x\d+ ', log, re.M)) == 2
    meta = json.loads((root / 'model.json').read_text())
    assert meta['input']['shape'][0] == 'batch' and meta['opset'] == 18
    scores = {}
    for name, model_file in (('pytorch', checkpoint),
                             ('onnx', str(root / 'model.onnx'))):
        out = root / f'{name}.json'
        # with flip and multi-scale TTA: both backends take the flags
        done = run('test.py', 'configs/unet_camvid_quick.py', model_file,
                   '--out', str(out), '--work-dir', str(root / name),
                   '--tta', '--tta-scales', '0.75', '1.25',
                   '--cfg-options', *options)
        assert 'WARNING' not in done.stdout + done.stderr
        scores[name] = json.loads(out.read_text())
    assert scores['onnx']['mIoU'] == pytest.approx(scores['pytorch']['mIoU'],
                                                   abs=1e-3)
    wrong = run('test.py', 'configs/unet_camvid_quick.py', checkpoint,
                '--backend', 'onnxruntime', ok=False)
    assert wrong.returncode == 1 and 'expected an .onnx file' in wrong.stderr


def test_rle_submission_round_trips_and_both_backends_agree(
        tmp_path, carvana_sample_root):
    config = 'unet_carvana_quick.py'
    checkpoint, options = tiny_model(tmp_path, config)
    export(config, checkpoint, options, tmp_path / 'model.onnx')
    images = tmp_path / 'test'
    images.mkdir()
    for i, path in enumerate(sorted((carvana_sample_root / 'train').glob(
            '*.jpg'))[::5]):  # unlabelled images of odd sizes
        image = cv2.imread(str(path))
        cv2.imwrite(str(images / f'{path.stem}.jpg'),
                    image[:image.shape[0] - 7 * i, 3 * i:])
    # The checkpoint on PyTorch (auto would export it for onnxruntime on a
    # CPU without native bf16), the exported file on onnxruntime.
    common = [str(images), '--tta', '--cfg-options', *options]
    for model_file, backend, csv_name in (
            (checkpoint, 'pytorch', 'torch.csv'),
            (str(tmp_path / 'model.onnx'), 'onnxruntime', 'onnx.csv')):
        run('infer.py', f'configs/{config}', model_file, *common[:1],
            '--format', 'rle', '--out', str(tmp_path / csv_name),
            '--backend', backend, *common[1:])
    run('infer.py', f'configs/{config}', checkpoint, *common[:1], '--format',
        'index', '--out-dir', str(tmp_path / 'masks'), '--backend',
        'pytorch', *common[1:])
    rows = read_rle_csv(str(tmp_path / 'torch.csv'))
    names = sorted(p.name for p in images.iterdir())
    header = (tmp_path / 'torch.csv').read_text().splitlines()[0]
    assert header == 'img,rle_mask' and list(rows) == names
    onnx_rows = read_rle_csv(str(tmp_path / 'onnx.csv'))
    for name, rle in rows.items():
        written = cv2.imread(str(tmp_path / 'masks' / f'{Path(name).stem}'
                                 '.png'), cv2.IMREAD_UNCHANGED)
        assert written.shape == cv2.imread(str(images / name)).shape[:2]
        decoded = rle_decode(rle, written.shape)
        np.testing.assert_array_equal(decoded, written)
        agreement = (rle_decode(onnx_rows[name], written.shape) ==
                     decoded).mean()
        assert agreement >= 0.9999
    camvid, camvid_options = tiny_model(tmp_path, 'unet_camvid_quick.py')
    multi = run('infer.py', 'configs/unet_camvid_quick.py', camvid,
                str(images), '--format', 'rle', '--out',
                str(tmp_path / 'x.csv'), '--backend', 'pytorch',
                '--cfg-options', *camvid_options, ok=False)
    assert multi.returncode == 1 and 'expected a binary model' in \
        multi.stderr and not (tmp_path / 'x.csv').exists()


def test_int8_export_is_scored_by_the_test_tool(exported):
    root, _, options, log = exported
    assert re.search(r'model_int8\.onnx: .* calibrated \(MinMax\) on 2 '
                     r'training images', log), log
    meta = json.loads((root / 'model_int8.json').read_text())
    assert meta['int8']['calibration']['images'] == 2
    assert meta['int8']['ops']['int8'] and 'int8' not in json.loads(
        (root / 'model.json').read_text())
    out = root / 'int8.json'
    run('test.py', 'configs/unet_camvid_quick.py',
        str(root / 'model_int8.onnx'), '--out', str(out),
        '--work-dir', str(root / 'int8'), '--cfg-options', *options)
    assert 0 <= json.loads(out.read_text())['mIoU'] <= 1


def test_bad_int8_arguments_are_one_line_and_write_nothing(tmp_path):
    """Checked first: the checkpoint is not even looked for. (Each bad
    combination's message: tests/apis/test_quantize.py.)"""
    out = tmp_path / 'out'
    proc = run('export.py', 'configs/unet_camvid_quick.py', 'missing.pth',
               '--out', str(out / 'model.onnx'), '--int8', ok=False)
    assert proc.returncode == 1 and proc.stderr.startswith(
        'error: --int8 with no --calib: expected --calib N'
    ) and proc.stderr.count('\n') == 1, proc.stderr
    assert not out.exists()


def test_an_out_folder_that_cannot_be_written_is_one_line(tmp_path):
    checkpoint, _ = tiny_model(tmp_path, 'unet_camvid_quick.py')
    (tmp_path / 'a_file').write_text('')
    proc = run('export.py', 'configs/unet_camvid_quick.py', checkpoint,
               '--out', str(tmp_path / 'a_file' / 'model.onnx'), ok=False)
    assert proc.returncode == 1
    assert proc.stderr == (
        f'error: cannot write the folder of --out {tmp_path}/a_file: it is '
        'a file; choose another with --out\n')


@pytest.mark.parametrize('flag', ['--out', '--show-dir'])
def test_test_tool_checks_its_outputs_before_the_run(tmp_path, flag):
    checkpoint, _ = tiny_model(tmp_path, 'unet_camvid_quick.py')
    (tmp_path / 'a_file').write_text('')
    target = tmp_path / 'a_file' / 'x'
    proc = run('test.py', 'configs/unet_camvid_quick.py', checkpoint, flag,
               str(target), '--work-dir', str(tmp_path / 'work'), ok=False)
    folder = target.parent if flag == '--out' else target
    assert proc.returncode == 1
    assert proc.stderr.startswith('error: cannot write the ')
    assert f'{folder}: ' in proc.stderr and proc.stderr.count('\n') == 1
    assert not (tmp_path / 'work').exists()  # nothing ran
