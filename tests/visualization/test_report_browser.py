"""A real run's report in a real browser: copied alone to another folder,
the page still loads every image (curves, confusion matrix, sample panels,
all embedded) in headless chromium and paints a page that is not blank; a
real test run's report lays out where the model fails (the worst images,
the empty frames with false positives, what each class is confused with).

Needs Debian's chromium: ``bash .ci/install_browser.sh``.
"""
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
CLASSES = ('sky', 'road <main>', 'car & "bus"')
PALETTE = np.array([(70, 130, 180), (128, 64, 128), (0, 0, 142)], np.uint8)
CURVE_BLUE = (31, 119, 180)  # matplotlib's first line colour, C0
CHROMIUM_FLAGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
    '--force-color-profile=srgb', '--window-size=1200,3000'
]
# Added to the copy of the report that the browser opens; the report itself
# has no script.
IMAGE_CHECK = """<script>
window.addEventListener('load', () => {
  const images = Array.from(document.images);
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0));
  document.body.dataset.images = images.length;
  document.body.dataset.broken = broken.map(
    i => i.getAttribute('src').slice(0, 48)).join(' | ');
});
</script>
"""
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
                (96, 96), Image.NEAREST).save(
                    folder / f'frame {batch_idx}-{i}.png')


def train_tiny_run(work_dir: Path) -> Path:
    """4 iterations, validation (and panels) at 2 and 4, ReportHook on;
    returns the run folder."""
    loader = dict(dataset=dict(type='ReportTestDataset'), batch_size=2,
                  sampler=dict(type='DefaultSampler', shuffle=False),
                  collate_fn=dict(type='default_collate'))
    runner = Runner.from_cfg(Config(dict(
        model=dict(type='ReportTestSegmentor'),
        work_dir=str(work_dir),
        experiment_name=f'report-browser-{uuid.uuid4().hex}',
        train_dataloader=loader, val_dataloader=loader,
        val_evaluator=dict(type='IoUMetric'),
        train_cfg=dict(by_epoch=False, max_iters=4, val_interval=2),
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


def test_chromium_loads_every_image_and_paints_the_report(tmp_path):
    exe = find_chromium()
    run = train_tiny_run(tmp_path / 'work')
    report = run / 'report.html'
    assert report.is_file(), 'ReportHook wrote no report after training'
    page = report.read_text()
    panels = sorted(run.glob('vis_data/*/*.png'))
    assert len(panels) == 2 * len(TinyDataset())  # 2 validations
    # Curves: loss, lr, aAcc, mIoU, mDice, mAcc, IoU per class; the
    # confusion matrix; the panels.
    assert page.count('<img') == 7 + 1 + len(panels)
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
    assert int(checked['images']) == page.count('<img')
    assert checked['broken'] == '', f'images not loaded: {checked["broken"]}'

    shot = tmp_path / 'report.png'
    chromium(exe, [f'--screenshot={shot}', copied.as_uri()],
             tmp_path / 'profile-shot')
    pixels = np.asarray(Image.open(shot).convert('RGB'))
    assert pixels.shape == (3000, 1200, 3)
    assert pixels.std() > 10, 'the screenshot is blank'
    colours = {tuple(c) for c in pixels.reshape(-1, 3)[::7]}
    assert CURVE_BLUE in colours, 'no curve painted'
    assert {tuple(c) for c in PALETTE} & colours, 'no sample panel painted'


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
