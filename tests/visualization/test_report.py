"""report.html: what it shows, that it needs nothing outside the file (every
picture embedded), that it escapes, and when ReportHook writes it."""
import base64
import io
import json
import logging
import math
import shutil
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import List, Tuple
from urllib.parse import unquote

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from PIL import Image

from segkit.engine.hooks import report_hook
from segkit.evaluation import IoUMetric
from segkit.engine.hooks.report_hook import ReportHook
from segkit.registry import HOOKS
from segkit.visualization.html_parts import LIGHTBOX
from segkit.visualization.report import write_report

HOSTILE = '<script>alert("x")</script>'
CLASSES = ('Sky', 'road <a&b>', 'car "x"')


class Sources(HTMLParser):
    """Every ``src`` / ``href`` in a page, its images as ``(src, alt)``, and
    its tags."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: List[str] = []
        self.images: List[Tuple[str, str]] = []
        self.tags: List[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [v for k, v in attrs if k in ('src', 'href')]
        if tag == 'img':
            self.images.append((dict(attrs)['src'], dict(attrs)['alt']))


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


FACTS = dict(
    mode='train', config='configs/unet_exp.py', started=1767268800.0,
    wall_time=3725.4, end_iter=4,
    schedule=dict(max_iters=4, start_iter=0, val_interval=2),
    machine=dict(device='cpu', cpu='Xeon <Q>', cpus=2, threads=2,
                 cpu_native_bf16=True),
    versions=dict(segkit='0.1.0', torch='2.14.1', mmengine='0.10.7',
                  mmcv='2.2.0'),
    git='0123456789ab+dirty', precision='bf16 autocast on the CPU',
    model=dict(line='EncoderDecoder: 1.94 M parameters, 16.4 GFLOPs per '
               '3x368x480 input'),
    data=dict(train=dict(images=367, type='CamVidDataset',
                         source='data/camvid/train')))
# What ReportHook records of the last evaluation (3 classes, NaN as null).
EVALUATION = dict(
    source='validation at iteration 4', classes=list(CLASSES),
    confusion=[[5, 1, 0], [2, 6, 0], [0, 0, 0]],
    per_class=dict(IoU=[0.5, 0.3, None], Dice=[0.7, 0.6, None],
                   Acc=[0.25, 0.15, None], Precision=[0.9, 0.8, None]))


def make_train_run(root: Path) -> Path:
    """A training run folder: scalars (two validations), config, panels,
    and what ReportHook records: run facts, the last evaluation."""
    run = root / 'unet_exp' / '20260101_120000'
    train = [dict(lr=1e-3, loss=2.0 / i, loss_ce=2.0 / i, iter=i, step=i)
             for i in range(1, 5)]
    write_lines(run / 'vis_data' / 'scalars.json', [
        *train[:2], dict(metrics(0.5), step=2, time=0.1),
        *train[2:], dict(metrics(0.4), step=4, time=0.1)])
    write_config(run)
    write_panels(run, '2', ['frame_a'])
    write_panels(run, '4', ['frame_a', 'frame #b'])
    (run / 'run_info.json').write_text(json.dumps(FACTS))
    (run / 'evaluation.json').write_text(json.dumps(EVALUATION))
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
    # Final (iteration 4) and best (iteration 2) mIoU; the last logged loss,
    # named by its iteration.
    assert 'final (validation at iteration 4)' in page
    assert '<td>mIoU</td><td class="num">0.4000</td><td class="num">0.5000'\
        '</td><td class="num">2</td>' in page
    assert 'loss at iteration 4</td><td>0.5000' in page
    assert 'final loss' not in page
    # Per class: IoU and Acc logged, Dice and Precision from the recorded
    # confusion matrix; the logged values come first.
    assert '<th>class</th><th>IoU</th><th>Acc</th><th>Dice</th>'\
        '<th>Precision</th>' in page
    for name, iou, acc, dice, precision in zip(
            CLASSES, ('0.5000', '0.3000', 'nan'), ('0.2500', '0.1500', 'nan'),
            ('0.7000', '0.6000', 'nan'), ('0.9000', '0.8000', 'nan')):
        assert (f'<td>{escape(name)}</td><td class="num">{iou}</td>'
                f'<td class="num">{acc}</td><td class="num">{dice}</td>'
                f'<td class="num">{precision}</td>') in page
    # Every picture is inside the page: loss, lr, aAcc, mIoU, the IoU and
    # Acc per class (one chart each, every class on it), the confusion
    # matrix, then the three panels, latest step first.
    images = parse(page).images
    assert [alt for _, alt in images] == [
        'confusion matrix (validation at iteration 4)', 'training loss',
        'learning rate', 'val aAcc', 'val mIoU', 'val IoU per class',
        'val Acc per class', 'frame #b', 'frame_a', 'frame_a']
    for src, _ in images:
        mime, content = src.split(',', 1)
        assert mime in ('data:image/png;base64', 'data:image/jpeg;base64')
        assert base64.b64decode(content)[:2] in (b'\x89P', b'\xff\xd8')
    # Each panel links to its full-size file in the run folder.
    links = [unquote(r) for r in parse(page).refs if not r.startswith('data:')]
    assert links == ['vis_data/4/frame #b.png', 'vis_data/4/frame_a.png',
                     'vis_data/2/frame_a.png']
    assert all((train_run / ref).is_file() for ref in links)


def test_report_shows_what_the_run_depends_on(train_report):
    _, page = train_report
    for key, value in (
            ('wall time', '1:02:05'), ('iterations', '0 -&gt; 4 of 4'),
            ('model', 'EncoderDecoder: 1.94 M parameters, 16.4 GFLOPs'),
            ('train data', '367 images in data/camvid/train (CamVidDataset)'),
            ('precision', 'bf16 autocast on the CPU'),
            ('CPU', 'Xeon &lt;Q&gt;: 2 torch threads on 2 CPUs, native bf16'),
            ('versions', 'segkit 0.1.0, torch 2.14.1, mmengine 0.10.7, '
             'mmcv 2.2.0'),
            ('git commit', '0123456789ab+dirty')):
        assert f'<td>{key}</td><td>{value}' in page, key


def test_embedded_panels_are_bounded_thumbnails(tmp_path):
    run = make_train_run(tmp_path)
    big = run / 'vis_data' / '4' / 'frame_a.png'
    noise = np.random.default_rng(0).integers(0, 256, (360, 1920, 3),
                                              np.uint8)
    Image.fromarray(noise).save(big)
    write_panels(run, '3', ['frame_a'])
    write_panels(run, '1', ['old'])  # a 4th validation step: not embedded
    page = write_report(run).read_text()
    [(src, _)] = [i for i in parse(page).images if i[1] == 'frame_a'][:1]
    thumb = Image.open(io.BytesIO(base64.b64decode(src.split(',', 1)[1])))
    assert thumb.size == (960, 180)
    assert 'width="960" height="180"' in page
    assert 'old' not in [alt for _, alt in parse(page).images]
    assert 'Panels of 1 earlier validation(s) (steps 1)' in page


def test_a_copy_of_the_report_alone_needs_nothing_else(train_report,
                                                        tmp_path):
    _, page = train_report
    copy = tmp_path / 'elsewhere' / 'report.html'
    copy.parent.mkdir()
    shutil.copy(train_report[0] / 'report.html', copy)
    assert all(src.startswith('data:image/')
               for src, _ in parse(copy.read_text()).images)


def test_report_is_offline_and_escaped(train_report):
    train_run, page = train_report
    assert 'http://' not in page and 'https://' not in page
    # One script, the panels' lightbox, inline: it loads nothing.
    assert parse(page).tags.count('script') == 1
    assert LIGHTBOX in page and LIGHTBOX.startswith('<script>\n')
    assert HOSTILE not in page and escape(HOSTILE) in page
    for name in CLASSES[1:]:
        assert name not in page and escape(name) in page
    # Atomic write: nothing but the report is added to the run folder.
    assert sorted(p.name for p in train_run.iterdir()) == [
        'evaluation.json', 'report.html', 'run_info.json', 'vis_data']


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
    assert parse(page).refs[0] == 'vis_data/test/frame_a.png'
    assert [alt for _, alt in parse(page).images] == ['frame_a']


def test_test_run_shows_the_checkpoints_training_not_the_configs(test_run):
    trained = Config(dict(train_cfg=dict(type='IterBasedTrainLoop',
                                         max_iters=2400, val_interval=800)))
    facts = dict(mode='test', checkpoint=dict(
        path='work_dirs/x/iter_2400.pth', iter=2400, epoch=0,
        experiment_name='unet_x_20260101_000000', time='20260101_010000',
        config=trained.pretty_text))
    page = write_report(test_run, facts=facts).read_text()
    assert ("<h3>Schedule (the checkpoint&#x27;s training run)</h3>"
            in page)
    assert 'max_iters=2400' in page and 'max_iters=4' not in page
    for key, value in (('kind', 'test'),
                       ('checkpoint', 'work_dirs/x/iter_2400.pth'),
                       ('trained', '2400 iterations'),
                       ('trained in', 'unet_x_20260101_000000')):
        assert f'<td>{key}</td><td>{value}</td>' in page


def test_given_metrics_and_cfg_take_precedence(test_run):
    page = write_report(test_run, cfg=dict(model=dict(type='DeepLabV3')),
                        metrics=dict(mIoU=np.float32(0.125))).read_text()
    assert '<td>mIoU</td><td class="num">0.1250</td>' in page
    assert '>DeepLabV3<' in page and 'UNet' not in page


def test_nothing_to_report_names_the_files_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r'vis_data/scalars\.json.*empty\.json'):
        write_report(tmp_path / 'empty')


def fake_runner(run: Path, *metrics_of_loop) -> SimpleNamespace:
    """What ReportHook reads of a Runner outside training: its folder,
    config, logger, message hub and the evaluator's metrics."""
    loop = SimpleNamespace(evaluator=SimpleNamespace(metrics=metrics_of_loop))
    return SimpleNamespace(log_dir=str(run), cfg=Config(),
                           logger=logging.getLogger('test_report'),
                           message_hub=MessageHub(f'report-{run}'),
                           _train_loop=None, _load_from=None,
                           val_loop=loop, test_loop=loop)


def test_hook_is_registered():
    assert HOOKS.get('ReportHook') is ReportHook


def test_hook_writes_after_training_only_at_the_end(train_run):
    hook, runner = ReportHook(), fake_runner(train_run)
    hook.after_run(runner)  # a test run's after_run: nothing to do
    assert not (train_run / 'report.html').exists()
    hook.after_train(runner)
    hook.after_run(runner)
    assert '0.4000' in (train_run / 'report.html').read_text()


def test_hook_records_the_confusion_matrix_of_the_test(tmp_path):
    run = tmp_path / 'exp' / '20260103_000000'
    run.mkdir(parents=True)
    metric = IoUMetric()
    metric.dataset_meta = dict(classes=CLASSES)
    pred, label = torch.tensor([[[0, 1, 1, 2]]]), torch.tensor([[[0, 1, 2,
                                                                   2]]])
    metric.process({}, [dict(pred_sem_seg=dict(data=pred),
                             gt_sem_seg=dict(data=label))])
    scores = metric.compute_metrics(metric.results)
    ReportHook().after_test_epoch(fake_runner(run, metric), scores)
    recorded = json.loads((run / 'evaluation.json').read_text())
    assert recorded['classes'] == list(CLASSES)
    assert recorded['confusion'] == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert recorded['per_class']['Precision'] == [1.0, 0.5, 1.0]
    page = (run / 'report.html').read_text()
    assert '<td>mIoU</td>' in page
    assert 'alt="confusion matrix (test)"' in page
    assert (f'<td>{escape(CLASSES[1])}</td><td class="num">0.5000</td>'
            '<td class="num">0.6667</td><td class="num">1.0000</td>'
            '<td class="num">0.5000</td>') in page  # IoU Dice Acc Precision


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
