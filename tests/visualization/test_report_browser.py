"""A real run's report in a real browser: copied alone to another folder,
the page still loads every image (curves, confusion matrix, sample panels,
all embedded) in headless chromium and paints a page that is not blank, the
whole confusion matrix and a run's single validation as a marker; a click
on a panel shows it at its natural size over the page; a real test run's
report lays out where the model fails (the worst images, the empty frames
with false positives, what each class is confused with).

Needs Debian's chromium: ``bash .ci/install_browser.sh``.
"""
import base64
import io
import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from PIL import Image
from torch.utils.data import Dataset

from segkit.apis import load_config
from segkit.engine.hooks import configure_hook
from segkit.registry import DATASETS, HOOKS, MODELS

REPO = Path(__file__).resolve().parents[2]
# A long class name: the confusion matrix's picture must widen, not cut.
CLASSES = ('sky', 'road <main>', 'car & "bus" & other vehicles')
PALETTE = np.array([(70, 130, 180), (128, 64, 128), (0, 0, 142)], np.uint8)
CURVE_BLUE = (31, 119, 180)  # matplotlib's first line colour, C0
CHROMIUM_FLAGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
    '--force-color-profile=srgb', '--window-size=1200,4000'
]
# Added to the copy of the report that the browser opens. Besides counting
# the pictures, it records where the confusion matrix and the validation
# mIoU curve are laid out, "x,y,width,height", to find them in a screenshot.
IMAGE_CHECK = """<script>
window.addEventListener('load', () => {
  const images = Array.from(document.images);
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0));
  document.body.dataset.images = images.length;
  document.body.dataset.broken = broken.map(
    i => i.getAttribute('src').slice(0, 48)).join(' | ');
  const box = (selector) => {
    const r = document.querySelector(selector).getBoundingClientRect();
    return [r.x, r.y, r.width, r.height].map(Math.round).join(',');
  };
  document.body.dataset.matrix = box('img.matrix');
  document.body.dataset.valCurve = box('img[alt="val mIoU"]');
});
</script>
"""
# Clicks the first panel as a user would, then records the overlay once
# its picture is decoded: shown or not, its picture's laid-out and natural
# size "width,height", the thumbnail's laid-out width; then, with CLOSE,
# whether Escape hides it again.
CLICK_CHECK = """<script>
const CLOSE = %s;
window.addEventListener('load', async () => {
  const link = document.querySelector('a.panel');
  link.click();
  const box = document.getElementById('lightbox');
  const full = box.querySelector('img');
  await full.decode();
  const shown = full.getBoundingClientRect();
  Object.assign(document.body.dataset, {
    overlay: getComputedStyle(box).display,
    shown: `${Math.round(shown.width)},${Math.round(shown.height)}`,
    natural: `${full.naturalWidth},${full.naturalHeight}`,
    thumb: Math.round(link.querySelector('img').width),
    sameSrc: full.src === link.querySelector('img').src,
  });
  if (CLOSE) {
    document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}));
    document.body.dataset.closed = getComputedStyle(box).display;
  }
});
</script>
"""
PANEL_SIZE = (480, 240)  # wider than a thumbnail in the 1200-pixel page
# Counts, per part of "Where the model fails", its elements and those laid
# out with a size (and, for a picture, decoded): "<all>/<shown>".
FAILURES_CHECK = """<script>
window.addEventListener('load', () => {
  const shown = (e) => {
    const box = e.getBoundingClientRect();
    return box.width > 0 && box.height > 0 &&
      getComputedStyle(e).visibility === 'visible' &&
      (e.tagName !== 'IMG' || (e.complete && e.naturalWidth > 0));
  };
  const count = (selector) => {
    const found = Array.from(document.querySelectorAll(selector));
    return `${found.length}/${found.filter(shown).length}`;
  };
  document.body.dataset.worst = count('#worst-images figure img');
  document.body.dataset.falsePositives = count(
    '#empty-false-positives figure img');
  document.body.dataset.confused = count('#most-confused li');
});
</script>
"""


@MODELS.register_module(name='ReportTestSegmentor', force=True)
class TinySegmentor(BaseModel):
    """1x1 conv: its predictions feed segkit's real IoUMetric."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, len(CLASSES), 1)

    def forward(self, inputs, labels, mode='tensor'):
        logits = self.conv(inputs)
        if mode == 'loss':
            return dict(loss=F.cross_entropy(logits, labels))
        if mode == 'predict':
            return [dict(pred_sem_seg=dict(data=p[None]),
                         gt_sem_seg=dict(data=gt[None]))
                    for p, gt in zip(logits.argmax(1), labels)]
        return logits


@DATASETS.register_module(name='ReportTestDataset', force=True)
class TinyDataset(Dataset):
    metainfo = dict(classes=CLASSES)

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> dict:
        gen = torch.Generator().manual_seed(index)
        labels = torch.randint(0, len(CLASSES), (16, 16), generator=gen)
        return dict(inputs=F.one_hot(labels, 3).permute(2, 0, 1).float()
                    + torch.rand(3, 16, 16, generator=gen), labels=labels)


@HOOKS.register_module(name='ReportTestPanelHook', force=True)
class PanelHook(Hook):
    """Stands in for SegVisHook: writes its vis_data/<step>/<stem>.png."""

    def after_val_iter(self, runner, batch_idx, data_batch=None,
                       outputs=None) -> None:
        folder = Path(runner.log_dir) / 'vis_data' / str(runner.iter)
        folder.mkdir(parents=True, exist_ok=True)
        for i, sample in enumerate(outputs):
            pred = sample['pred_sem_seg']['data'][0].numpy()
            Image.fromarray(PALETTE[pred]).resize(
                PANEL_SIZE, Image.NEAREST).save(
                    folder / f'frame {batch_idx}-{i}.png')


def train_tiny_run(work_dir: Path) -> Path:
    """4 iterations, one validation (and panels) at the end, ReportHook on;
    returns the run folder."""
    loader = dict(dataset=dict(type='ReportTestDataset'), batch_size=2,
                  sampler=dict(type='DefaultSampler', shuffle=False),
                  collate_fn=dict(type='default_collate'))
    runner = Runner.from_cfg(Config(dict(
        model=dict(type='ReportTestSegmentor'),
        work_dir=str(work_dir),
        experiment_name=f'report-browser-{uuid.uuid4().hex}',
        train_dataloader=dict(loader, sampler=dict(type='InfiniteSampler')),
        val_dataloader=loader,
        val_evaluator=dict(type='IoUMetric'),
        train_cfg=dict(by_epoch=False, max_iters=4, val_interval=4),
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=None),
        custom_hooks=[dict(type='ReportTestPanelHook'),
                      dict(type='ReportHook')],
        log_level='WARNING', randomness=dict(seed=0),
        default_scope='segkit')))
    runner.train()
    return Path(runner.log_dir)


def find_chromium() -> str:
    exe = shutil.which('chromium')
    if exe is None:
        pytest.fail('chromium not found on PATH: run `bash '
                    ".ci/install_browser.sh` (installs Debian's chromium)")
    return exe


def chromium(exe: str, args: List[str], profile: Path) -> str:
    """Run headless chromium; its stdout, or a failure saying why."""
    try:
        done = subprocess.run(
            [exe, *CHROMIUM_FLAGS, f'--user-data-dir={profile}', *args],
            capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail(f'chromium {args} ran past 90 s')
    assert done.returncode == 0, f'chromium {args} failed:\n{done.stderr}'
    return done.stdout


def checked_body(exe: str, page: str, script: str, folder: Path,
                 profile: Path) -> Dict[str, str]:
    """Open ``page`` with ``script`` added, as ``folder/checked.html``;
    the ``data-*`` attributes the script set on its ``<body>``."""
    checked = folder / 'checked.html'
    checked.write_text(page.replace('</body>', script + '</body>'))
    dom = chromium(exe, ['--virtual-time-budget=10000', '--dump-dom',
                         checked.as_uri()], profile)
    body = re.search(r'<body[^>]*>', dom)
    assert body, f'no <body> in the DOM dump:\n{dom[:500]}'
    return dict(re.findall(r'data-([\w-]+)="([^"]*)"', body.group()))


def screenshot(exe: str, page: Path, profile: Path) -> np.ndarray:
    """``page`` as chromium paints it once loaded (its scripts run),
    ``(4000, 1200, 3)`` RGB."""
    shot = page.with_suffix('.png')
    chromium(exe, ['--virtual-time-budget=10000', f'--screenshot={shot}',
                   page.as_uri()], profile)
    pixels = np.asarray(Image.open(shot).convert('RGB'))
    assert pixels.shape == (4000, 1200, 3)
    return pixels


def crop(pixels: np.ndarray, box: str) -> np.ndarray:
    """The part of a screenshot at ``box``, "x,y,width,height"."""
    x, y, width, height = map(int, box.split(','))
    assert 0 <= x and x + width <= pixels.shape[1] and \
        0 <= y and y + height <= pixels.shape[0], f'{box} is off the shot'
    return pixels[y:y + height, x:x + width]


def near(pixels: np.ndarray, colour, within: int = 40) -> int:
    """How many pixels lie within ``within`` (sum over RGB) of ``colour``."""
    return int((np.abs(pixels.astype(np.int16) - colour).sum(-1)
                < within).sum())


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp('work'))


def test_chromium_loads_every_image_and_paints_the_report(tiny_run,
                                                          tmp_path):
    exe = find_chromium()
    report = tiny_run / 'report.html'
    assert report.is_file(), 'ReportHook wrote no report after training'
    page = report.read_text()
    panels = sorted(tiny_run.glob('vis_data/*/*.png'))
    assert len(panels) == len(TinyDataset())  # 1 validation
    # Curves: loss, lr, aAcc, mIoU, mDice, mAcc, IoU per class; the
    # confusion matrix; the panels.
    pictures = page.count('<img src=')
    assert pictures == 7 + 1 + len(panels)
    # MMEngine's default LoggerHook logs these validations at "epoch" 0.
    assert 'final (validation at iteration 4)' in page

    # The report copied alone, away from its run folder: a relative link
    # to a panel would break here, an embedded picture does not.
    elsewhere = tmp_path / 'mailed'
    elsewhere.mkdir()
    copied = Path(shutil.copy(report, elsewhere / 'report.html'))
    checked = checked_body(exe, page, IMAGE_CHECK, elsewhere,
                           tmp_path / 'profile-dom')
    assert {'images', 'broken'} <= checked.keys(), \
        f'the image check did not run: {checked}'
    assert int(checked['images']) == pictures
    assert checked['broken'] == '', f'images not loaded: {checked["broken"]}'

    pixels = screenshot(exe, copied, tmp_path / 'profile-shot')
    assert pixels.std() > 10, 'the screenshot is blank'
    colours = {tuple(c) for c in pixels.reshape(-1, 3)[::7]}
    assert CURVE_BLUE in colours, 'no curve painted'
    assert {tuple(c) for c in PALETTE} & colours, 'no sample panel painted'

    # The whole confusion matrix is painted, as drawn: the picture scaled
    # to its place on the page, title and colour bar included, and its
    # edges blank (nothing drawn reaches them: nothing is cut).
    matrix = crop(pixels, checked['matrix']).astype(np.float32)
    src = re.search(r'<img src="data:image/png;base64,([^"]+)" '
                    r'alt="confusion matrix', page).group(1)
    drawn = np.asarray(Image.open(io.BytesIO(base64.b64decode(src))).convert(
        'RGB').resize(matrix.shape[1::-1], Image.BILINEAR), np.float32)
    assert np.abs(matrix - drawn).mean() < 8, 'matrix not painted as drawn'
    edge = np.concatenate([matrix[:2, :], matrix[-2:, :],
                           matrix[:, :2].reshape(-1, 3),
                           matrix[:, -2:].reshape(-1, 3)], axis=None)
    assert edge.min() > 200, 'the matrix picture is cut at its edge'
    # One validation: its mIoU is a marker the size of a few pixels across
    # even on the scaled-down curve (a dot was 2 or 3 pixels).
    assert near(crop(pixels, checked['val-curve']), CURVE_BLUE) > 15


def test_a_click_shows_the_panel_at_its_natural_size(tiny_run, tmp_path):
    exe = find_chromium()
    page = (tiny_run / 'report.html').read_text()
    elsewhere = tmp_path / 'mailed'
    elsewhere.mkdir()
    checked = checked_body(exe, page, CLICK_CHECK % 'true', elsewhere,
                           tmp_path / 'profile-dom')
    natural = ','.join(map(str, PANEL_SIZE))
    assert (checked.get('overlay'), checked.get('natural'),
            checked.get('shown'), checked.get('same-src')) == (
                'flex', natural, natural, 'true'), checked
    assert int(checked['thumb']) < PANEL_SIZE[0], 'the thumbnail is as big'
    assert checked.get('closed') == 'none', 'Escape did not close it'

    clicked = elsewhere / 'clicked.html'
    clicked.write_text(page.replace('</body>',
                                    CLICK_CHECK % 'false' + '</body>'))
    pixels = screenshot(exe, clicked, tmp_path / 'profile-shot')
    # The page is dimmed behind the overlay, and the panel is painted over
    # it at one screen pixel per panel pixel, in its exact colours.
    assert pixels[:40, :40].max() < 60, 'the page is not covered'
    painted = sum(int((pixels == c).all(-1).sum()) for c in PALETTE)
    assert abs(painted - PANEL_SIZE[0] * PANEL_SIZE[1]) < 0.02 * (
        PANEL_SIZE[0] * PANEL_SIZE[1]), painted


def tiny_test_run(work_dir: Path) -> Path:
    """segkit's own test run of an untrained narrow U-Net on the Carvana
    sample (16 views of a car, 6 of them without it), ReportHook with
    ``worst=3``; returns the run folder."""
    cfg = load_config(str(REPO / 'configs' / 'unet_carvana_quick.py'), {
        'data_root': str(REPO / 'data' / 'carvana_sample'),
        'model.backbone.base_channels': 4, 'model.backbone.depth': 3,
        'model.data_preprocessor.size_divisor': 8,
        # The untrained net's probabilities sit near 0.45: a car is seen,
        # on part of each frame.
        'model.threshold': 0.4,
        'test_dataloader': dict(num_workers=0, persistent_workers=False),
        'log_level': 'WARNING'}, str(work_dir))
    cfg.experiment_name = f'report-browser-{uuid.uuid4().hex}'
    configure_hook(cfg, 'ReportHook', worst=3)
    runner = Runner.from_cfg(cfg)
    runner.test()
    return Path(runner.log_dir)


@pytest.mark.slow  # chromium in a subprocess
def test_chromium_lays_out_where_a_test_run_fails(tmp_path):
    exe = find_chromium()
    run = tiny_test_run(tmp_path / 'work')
    failures = json.loads((run / 'failures.json').read_text())
    drawn = [sum(1 for e in failures[key] if e['panel'])
             for key in ('worst', 'false_positives')]
    assert drawn == [3, 3], failures
    elsewhere = tmp_path / 'mailed'
    elsewhere.mkdir()
    checked = checked_body(exe, (run / 'report.html').read_text(),
                           FAILURES_CHECK, elsewhere, tmp_path / 'profile')
    # every element there, and each laid out with a size, pictures decoded
    assert (checked.get('worst'), checked.get('false-positives'),
            checked.get('confused')) == ('3/3', '3/3', '2/2'), checked
