"""tools/infer.py as a user runs it: odd-sized crops of a real CamVid frame
given as a folder, a glob and a file, one mask per image per format."""
import re
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.runner import save_checkpoint

from segkit.apis import inference, init_model
from segkit.apis.onnx_model import onnxruntime_is_faster
from tool_process import run_python

pytestmark = pytest.mark.slow  # runs the real tools in subprocesses

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / 'configs' / 'unet_camvid_quick.py')
TINY = {'model.backbone.base_channels': 4, 'model.backbone.depth': 3,
        'model.data_preprocessor.size_divisor': 8}
TINY_ARGS = [f'{key}={value}' for key, value in TINY.items()]
PALETTE = [[23 * i, 255 - 23 * i, 11 * i] for i in range(11)]
SUMMARY = re.compile(r'^(\d+) images, [\d.]+ s, [\d.]+ images/s', re.M)


@pytest.fixture(scope='module')
def setup(tmp_path_factory, camvid_root):
    """A tiny checkpoint, and two images of odd sizes sharing the stem
    ``frame``: folder_a/frame.png (37×53) and glob_b/frame.jpg (101×75)."""
    root = tmp_path_factory.mktemp('infer')
    torch.manual_seed(0)
    model = init_model(CONFIG, cfg_options=TINY)
    checkpoint = str(root / 'tiny.pth')
    save_checkpoint({'state_dict': model.state_dict(), 'meta': {
        'dataset_meta': dict(classes=tuple('abcdefghijk'),
                             palette=PALETTE)}}, checkpoint)
    frame = cv2.imread(str(sorted((camvid_root / 'val').glob('*.png'))[0]))
    images = {root / 'folder_a' / 'frame.png': frame[100:137, 200:253],
              root / 'glob_b' / 'frame.jpg': frame[150:251, 300:375]}
    for path, image in images.items():
        path.parent.mkdir()
        cv2.imwrite(str(path), image)
    return root, checkpoint, images


def infer(*args: str, backend: str = 'pytorch'
          ) -> subprocess.CompletedProcess:
    """tools/infer.py, on PyTorch unless told: ``auto`` chooses by the CPU
    (test_auto_backend_runs_onnxruntime_where_it_is_faster)."""
    return run_python(
        ['tools/infer.py', *args, '--backend', backend], timeout=300)


@pytest.mark.parametrize('fmt', ['index', 'color', 'overlay'])
def test_writes_one_mask_per_image_at_its_size(setup, fmt):
    root, checkpoint, images = setup
    out_dir = root / f'out_{fmt}'
    extra = {'color': ['--tta'],
             'index': ['--tta-scales', '0.75', '1.25']}.get(fmt, [])
    proc = infer(CONFIG, checkpoint, str(root / 'folder_a'),
                 str(root / 'glob_b' / '*.jpg'), '--out-dir', str(out_dir),
                 '--format', fmt, '--batch-size', '2', *extra,
                 '--cfg-options', *TINY_ARGS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert SUMMARY.search(proc.stdout).group(1) == '2'
    masks = {path: cv2.imread(str(out_dir / f'{path.parent.name}__frame.png'),
                              cv2.IMREAD_UNCHANGED) for path in images}
    assert sorted(p.name for p in out_dir.iterdir()) == [
        'folder_a__frame.png', 'glob_b__frame.png']
    for path, mask in masks.items():
        assert mask.shape[:2] == images[path].shape[:2]
        if fmt == 'index':
            assert mask.ndim == 2 and mask.max() < 11
        else:
            assert mask.shape[2] == 3
    if fmt == 'index':
        # The very masks the Python API predicts for the files (in one
        # batch too: padding to the batch's size shifts edge logits).
        model = init_model(CONFIG, checkpoint, cfg_options=dict(
            TINY, **{'model.test_cfg.scales': [0.75, 1.25]}))
        samples = inference(model, list(images), batch_size=2)
        for path, sample in zip(images, samples):
            assert np.array_equal(masks[path],
                                  sample.pred_sem_seg.data[0].numpy())
    if fmt == 'color':
        bgr = {tuple(c[::-1]) for c in PALETTE}
        for mask in masks.values():
            assert {tuple(c) for c in mask.reshape(-1, 3)} <= bgr


def test_bad_inputs_are_all_named_before_any_work(setup):
    root, checkpoint, images = setup
    (root / 'broken.png').write_bytes(b'\x89PNG truncated')
    proc = infer(CONFIG, checkpoint, str(root / 'nowhere'),
                 str(root / 'broken.png'), str(root / 'glob_b' / '*.tif'),
                 '--out-dir', str(root / 'never'))
    assert proc.returncode == 1
    assert 'nowhere: not a file or folder' in proc.stderr
    assert 'broken.png: unreadable' in proc.stderr
    assert '*.tif: not a file or folder, and a glob that matches no image' \
        in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not (root / 'never').exists()


def test_a_bad_tta_scale_is_one_line(setup):
    root, checkpoint, _ = setup
    proc = infer(CONFIG, checkpoint, str(root / 'folder_a'), '--tta-scales',
                 '0', '1')
    assert proc.returncode == 1
    assert proc.stderr == (
        'error: --tta-scales: test_cfg scales=[0.0, 1.0]: expected a '
        'non-empty list of positive resize factors, e.g. [0.75, 1.0, 1.25]\n')


def test_one_bad_file_does_not_stop_the_others(setup):
    """An empty PNG (refused by its header) and a truncated one (by its
    decoder) among good images: the good masks are written, each bad file
    is named in one line, the summary counts both, and the status is 1."""
    root, checkpoint, images = setup
    folder = root / 'mixed'
    folder.mkdir()
    frame = next(iter(images.values()))
    for name in ('a.png', 'c.png', 'e.png'):
        cv2.imwrite(str(folder / name), frame)
    (folder / 'b_empty.png').write_bytes(b'')
    cv2.imwrite(str(folder / 'd_cut.png'), frame)
    data = (folder / 'd_cut.png').read_bytes()
    (folder / 'd_cut.png').write_bytes(data[:len(data) // 2])
    out_dir = root / 'out_mixed'
    proc = infer(CONFIG, checkpoint, str(folder), '--out-dir', str(out_dir),
                 '--batch-size', '2', '--cfg-options', *TINY_ARGS)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert sorted(p.name for p in out_dir.iterdir()) == [
        'a.png', 'c.png', 'e.png']
    errors = [line for line in proc.stderr.splitlines()
              if line.startswith('error: ')]
    assert errors == [
        f'error: {folder}/b_empty.png: unreadable, empty or not an image',
        f'error: cannot decode image {folder}/d_cut.png: expected a '
        'readable image file, it is corrupt, truncated or not an image']
    assert 'Traceback' not in proc.stderr
    assert SUMMARY.search(proc.stdout).group(1) == '3'
    assert '; 2 failed, named above' in proc.stdout


def test_an_out_dir_that_cannot_be_written_is_one_line(setup):
    root, checkpoint, _ = setup
    (root / 'a_file').write_text('')
    proc = infer(CONFIG, checkpoint, str(root / 'folder_a'), '--out-dir',
                 str(root / 'a_file' / 'masks'))
    assert proc.returncode == 1
    assert proc.stderr == (
        f'error: cannot write the output folder {root}/a_file/masks: Not a '
        'directory; choose another with --out-dir\n')


def test_auto_backend_runs_onnxruntime_where_it_is_faster(setup):
    """On a CPU without native bf16, a checkpoint is exported once beside
    itself and run by onnxruntime; elsewhere PyTorch runs it. Either way
    the masks are PyTorch's."""
    root, checkpoint, images = setup
    masks = {}
    for backend in ('pytorch', 'auto'):
        out_dir = root / f'out_backend_{backend}'
        proc = infer(CONFIG, checkpoint, str(root / 'folder_a'), '--out-dir',
                     str(out_dir), '--cfg-options', *TINY_ARGS,
                     backend=backend)
        assert proc.returncode == 0, proc.stderr[-3000:]
        masks[backend] = cv2.imread(str(out_dir / 'frame.png'),
                                    cv2.IMREAD_UNCHANGED)
        exported = Path(checkpoint + '.onnx').is_file()
        if backend == 'pytorch':
            assert not exported
    assert exported == onnxruntime_is_faster('cpu')
    agreement = (masks['auto'] == masks['pytorch']).mean()
    assert agreement >= 0.999
