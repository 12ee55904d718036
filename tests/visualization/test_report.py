"""report.html: what it shows, that it references nothing outside the run
folder, that it escapes, and when ReportHook writes it."""
import base64
import json
import logging
import math
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import List, Tuple
from urllib.parse import unquote

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from segkit.engine.hooks import report_hook
from segkit.engine.hooks.report_hook import ReportHook
from segkit.registry import HOOKS
from segkit.visualization.report import write_report

HOSTILE = '<script>alert("x")</script>'
CLASSES = ('Sky', 'road <a&b>', 'car "x"')


class Sources(HTMLParser):
    """Every ``src`` / ``href`` in a page, and whether it has a script."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: List[str] = []
        self.tags: List[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [v for k, v in attrs if k in ('src', 'href')]


def parse(page: str) -> Sources:
    parser = Sources()
    parser.feed(page)
    return parser


def metrics(miou: float) -> dict:
    per_class = dict(zip(CLASSES, (miou + 0.1, miou - 0.1, math.nan)))
    return {'aAcc': 0.9, 'mIoU': miou,
            **{f'IoU.{n}': v for n, v in per_class.items()},
            **{f'Acc.{n}': v / 2 for n, v in per_class.items()}}


def write_lines(path: Path, lines: List[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(json.dumps(line) + '\n' for line in lines))


def write_config(run: Path) -> None:
    """The config as MMEngine dumps it to vis_data/config.py."""
    (run / 'vis_data').mkdir(parents=True, exist_ok=True)
    Config(dict(
        model=dict(type='UNet', num_classes=3, base_channels=8,
                   loss_decode=dict(type='CrossEntropyLoss',
                                    loss_weight=1.0)),
        train_dataloader=dict(batch_size=2, dataset=dict(
            type='CamVidDataset', data_root=f'data/{HOSTILE}')),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=4,
                       val_interval=2),
        optim_wrapper=dict(type='OptimWrapper',
                           optimizer=dict(type='AdamW', lr=0.002)),
    )).dump(run / 'vis_data' / 'config.py')


def write_panels(run: Path, step: str, stems: List[str]) -> None:
    """PNGs where SegVisHook puts its panels: vis_data/<step>/<stem>.png."""
    for i, stem in enumerate(stems):
        path = run / 'vis_data' / step / f'{stem}.png'
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new('RGB', (96, 32), (40 * i, 120, 200)).save(path)


def make_train_run(root: Path) -> Path:
    """A training run folder: scalars (two validations), config, panels."""
    run = root / 'unet_exp' / '20260101_120000'
    train = [dict(lr=1e-3, loss=2.0 / i, loss_ce=2.0 / i, iter=i, step=i)
             for i in range(1, 5)]
    write_lines(run / 'vis_data' / 'scalars.json', [
        *train[:2], dict(metrics(0.5), step=2, time=0.1),
        *train[2:], dict(metrics(0.4), step=4, time=0.1)])
    write_config(run)
    write_panels(run, '2', ['frame_a'])
    write_panels(run, '4', ['frame_a', 'frame #b'])
    return run


@pytest.fixture
def train_run(tmp_path) -> Path:
    return make_train_run(tmp_path)


@pytest.fixture(scope='module')
def train_report(tmp_path_factory) -> Tuple[Path, str]:
    """``(run folder, page)``, written once: rendering curves is slow."""
    run = make_train_run(tmp_path_factory.mktemp('report'))
    path = write_report(run)
    assert path == run / 'report.html'
    return run, path.read_text()


def test_report_shows_config_metrics_classes_curves_and_panels(train_report):
    train_run, page = train_report
    # Config summary.
    assert '>UNet<' in page and 'num_classes' in page
    assert 'AdamW(lr=0.002)' in page and 'max_iters=4' in page
    assert 'CamVidDataset' in page and 'batch_size=2' in page
    # Final (iteration 4) and best (iteration 2) mIoU; the last loss.
    assert 'final (validation at iteration 4)' in page
    assert '<td>mIoU</td><td class="num">0.4000</td><td class="num">0.5000'\
        '</td><td class="num">2</td>' in page
    assert 'final loss</td><td>0.5000' in page
    # Per-class table from the last validation, IoU and Acc columns.
    assert '<th>class</th><th>IoU</th><th>Acc</th>' in page
    for name, iou, acc in zip(CLASSES, ('0.5000', '0.3000', 'nan'),
                              ('0.2500', '0.1500', 'nan')):
        assert (f'<td>{escape(name)}</td><td class="num">{iou}</td>'
                f'<td class="num">{acc}</td>') in page
    # Curves embedded: loss, lr, and one per validation metric.
    refs = parse(page).refs
    embedded = [r for r in refs if r.startswith('data:image/png;base64,')]
    assert len(embedded) == 2 + 2 + 2 * len(CLASSES)
    for ref in embedded:
        assert base64.b64decode(ref.split(',', 1)[1])[:4] == b'\x89PNG'
    # Panels linked relatively, latest step first, every link resolving.
    linked = [unquote(r) for r in refs if not r.startswith('data:')]
    assert linked[::2] == linked[1::2]  # each <img> inside its own <a>
    assert linked[::2] == ['vis_data/4/frame #b.png', 'vis_data/4/frame_a.png',
                           'vis_data/2/frame_a.png']
    assert all((train_run / ref).is_file() for ref in linked)


def test_report_is_offline_and_escaped(train_report):
    train_run, page = train_report
    assert 'http://' not in page and 'https://' not in page
    assert 'script' not in parse(page).tags
    assert HOSTILE not in page and escape(HOSTILE) in page
    for name in CLASSES[1:]:
        assert name not in page and escape(name) in page
    # Atomic write: nothing but the report is added to the run folder.
    assert sorted(p.name for p in train_run.iterdir()) == [
        'report.html', 'vis_data']


@pytest.fixture
def test_run(tmp_path) -> Path:
    """tools/test.py: no scalars.json; LoggerHook dumps <run>/<run>.json."""
    run = tmp_path / 'exp' / '20260102_000000'
    write_lines(run / '20260102_000000.json',
                [dict(metrics(0.25), data_time=0.1, time=0.2)])
    write_config(run)
    write_panels(run, 'test', ['frame_a'])
    return run


def test_test_run_folder_reports_the_dumped_test_metrics(test_run):
    page = write_report(test_run).read_text()
    assert '<h3>Test metrics</h3>' in page
    assert '<td>mIoU</td><td class="num">0.2500</td>' in page
    assert f'<td>{escape(CLASSES[1])}</td><td class="num">0.1500' in page
    assert 'data_time' not in page
    assert 'No training curves' in page
    assert parse(page).refs == ['vis_data/test/frame_a.png'] * 2


def test_given_metrics_and_cfg_take_precedence(test_run):
    page = write_report(test_run, cfg=dict(model=dict(type='DeepLabV3')),
                        metrics=dict(mIoU=np.float32(0.125))).read_text()
    assert '<td>mIoU</td><td class="num">0.1250</td>' in page
    assert '>DeepLabV3<' in page and 'UNet' not in page


def test_nothing_to_report_names_the_files_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r'vis_data/scalars\.json.*empty\.json'):
        write_report(tmp_path / 'empty')


def fake_runner(run: Path) -> SimpleNamespace:
    return SimpleNamespace(log_dir=str(run), cfg=Config(),
                           logger=logging.getLogger('test_report'))


def test_hook_is_registered():
    assert HOOKS.get('ReportHook') is ReportHook


def test_hook_writes_after_training_only_at_the_end(train_run):
    hook, runner = ReportHook(), fake_runner(train_run)
    hook.after_run(runner)  # a test run's after_run: nothing to do
    assert not (train_run / 'report.html').exists()
    hook.after_train(runner)
    hook.after_run(runner)
    assert '0.4000' in (train_run / 'report.html').read_text()


def test_hook_writes_test_metrics_after_the_test_epoch(tmp_path):
    run = tmp_path / 'exp' / '20260103_000000'
    run.mkdir(parents=True)
    ReportHook().after_test_epoch(fake_runner(run), metrics(0.75))
    page = (run / 'report.html').read_text()
    assert '<td>mIoU</td><td class="num">0.7500</td>' in page


def test_hook_writes_on_the_main_process_only(train_run, monkeypatch):
    monkeypatch.setattr(report_hook, 'is_main_process', lambda: False)
    hook = ReportHook()
    hook.after_train(fake_runner(train_run))
    hook.after_run(fake_runner(train_run))
    hook.after_test_epoch(fake_runner(train_run), metrics(0.5))
    assert not (train_run / 'report.html').exists()


def test_hook_failure_is_a_warning_not_a_crash(train_run, caplog):
    scalars = train_run / 'vis_data' / 'scalars.json'
    scalars.write_text('{"loss": \n')
    hook, runner = ReportHook(), fake_runner(train_run)
    hook.after_train(runner)
    with caplog.at_level(logging.WARNING, logger='test_report'):
        hook.after_run(runner)
    assert not (train_run / 'report.html').exists()
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert f'ValueError: {scalars}:1: not JSON' in record.getMessage()
