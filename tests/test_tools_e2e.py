"""The researcher's path through the real tools, on real data, on the CPU:
train → checkpoint → test → resume, for each kind of model and dataset.

The runs use the small real samples bundled in data/ (a few frames to
validate on), so each tool call costs seconds, not minutes."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from PIL import Image

from segkit.apis import init_model, load_config
from segkit.apis.cli import parse_override_value
from segkit.datasets.rle import read_rle_csv, rle_decode
from segkit.engine.optim import cpu_supports_bf16
from segkit.registry import DATASETS
from tool_process import run_python, succeeded

pytestmark = pytest.mark.slow  # runs the real tools in subprocesses

REPO = Path(__file__).resolve().parents[1]
# Narrow nets and a handful of iterations: the tools, not the models, are
# under test here.
FAST = ['train_dataloader.batch_size=2', 'train_dataloader.num_workers=1',
        'val_dataloader.num_workers=1', 'train_cfg.val_interval=3',
        'default_hooks.checkpoint.interval=3',
        'default_hooks.logger.interval=1']
SMALL_UNET = ['model.backbone.base_channels=4', 'model.backbone.depth=3',
              'model.data_preprocessor.size_divisor=8']


def run_tool(*args: str) -> str:
    return succeeded(run_python(args))


def run_log(work_dir: Path) -> str:
    """The log file of the newest run in ``work_dir``: MMEngine's full
    record (environment, config, every logged iteration), which the
    console leaves out."""
    newest = max(work_dir.glob('2*/'))
    return (newest / f'{newest.name}.log').read_text()


def train(config: str, work_dir: Path, options: list, iters: int = 6,
          *extra: str) -> str:
    return run_tool('tools/train.py', config, '--work-dir', str(work_dir),
                    *extra, '--cfg-options', f'train_cfg.max_iters={iters}',
                    *options)


@pytest.fixture(scope='module')
def camvid_unet(tmp_path_factory, camvid_sample_root):
    work_dir = tmp_path_factory.mktemp('unet_camvid_quick')
    options = [f'data_root={camvid_sample_root}', *FAST, *SMALL_UNET]
    log = train('configs/unet_camvid_quick.py', work_dir, options)
    return work_dir, options, log


def test_train_writes_checkpoints_and_validates(camvid_unet):
    work_dir, _, log = camvid_unet
    assert (work_dir / 'iter_6.pth').is_file()
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith(
        'iter_6.pth')
    assert list(work_dir.glob('best_mIoU_iter_*.pth'))
    assert re.search(r'val at iteration 6: aAcc: [\d.]+  mIoU: \d\.\d+', log)
    # schedule_10k asks for mixed precision; the console says what it became
    assert torch.cuda.is_available() or (
        'precision  bf16 autocast on the CPU, fp32 weights'
        if cpu_supports_bf16() else 'precision  fp32') in log


def test_console_says_what_matters_and_the_log_keeps_everything(
        camvid_unet):
    work_dir, _, console = camvid_unet
    for dump in ('System environment', 'Config:', 'Hooks will be executed'):
        assert dump not in console
    log_file = re.search(r'^  log +(\S+\.log)$', console, re.M).group(1)
    full = Path(log_file).read_text()
    for dump in ('System environment', 'Config:', 'Hooks will be executed',
                 'Iter(train) [6/6]'):
        assert dump in full
    for line in (
            r'\d\d:\d\d:\d\d training configs/unet_camvid_quick\.py',
            r'  data       train: \d+ images in \S+/camvid_sample/train '
            r'\(CamVidDataset, 11 classes\)',
            r'             val: \d+ images in \S+/camvid_sample/val',
            r'  model      EncoderDecoder: [\d.]+ k parameters, [\d.]+ '
            r'[MG]FLOPs per 3x\d+x\d+ input',
            r'  precision  (bf16 autocast on the CPU, fp32 weights|fp32)',
            r'  device     cpu: .+, \d+ threads on \d+ CPUs',
            rf'  work dir   {re.escape(str(work_dir))} \(this run: \d+_\d+/\)',
            r'  schedule   6 iterations, validation every 3',
            r'\d\d:\d\d:\d\d iter 6/6  loss \d+\.\d{4}  lr \S+  s/iter '
            r'[\d.]+  eta 0:00:00',
            r'Class +IoU +Dice +Acc +Precision',
            r'\d\d:\d\d:\d\d val at iteration 3: aAcc: \d\.\d{4}  mIoU: '
            r'\d\.\d{4}  mDice: \d\.\d{4}  mAcc: \d\.\d{4}',
            rf'  best checkpoint  {re.escape(str(work_dir))}/best_mIoU_iter_'
            r'\d\.pth',
            r'  report +\S+/report\.html'):
        assert re.search(f'^{line}$', console, re.M), line
    # 6 iterations, 2 validations with their 11-class tables: about 50.
    assert len(console.splitlines()) < 70


def test_a_refused_resume_is_one_line_and_leaves_no_run_folder(camvid_unet):
    work_dir, options, _ = camvid_unet
    runs = sorted(work_dir.glob('2*'))
    ckpt = (work_dir / 'last_checkpoint').read_text().strip()
    proc = run_python(
        ['tools/train.py', 'configs/unet_camvid_quick.py',
         '--work-dir', str(work_dir), '--resume', ckpt, '--cfg-options',
         *options, 'model.backbone.base_channels=8'])
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert proc.stderr.splitlines() == [
        f'error: cannot resume from {ckpt}: it is a checkpoint of another '
        'model (model.backbone.base_channels: 4 -> 8). Resume from a '
        'checkpoint of this model, or give this run its own --work-dir (add '
        '--load-from to start from those weights).']
    assert sorted(work_dir.glob('2*')) == runs


def test_a_failed_start_leaves_no_work_dir(tmp_path):
    empty = tmp_path / 'not_camvid'
    empty.mkdir()
    work_dir = tmp_path / 'work'
    proc = run_python(
        ['tools/train.py', 'configs/unet_camvid_quick.py',
         '--work-dir', str(work_dir), '--cfg-options', f'data_root={empty}',
         *FAST])
    assert proc.returncode == 1, proc.stderr[-3000:]
    [line] = proc.stderr.splitlines()
    assert line.startswith('error: ') and str(empty) in line
    assert not work_dir.exists()


@pytest.fixture(scope='module')
def camvid_test(camvid_unet, tmp_path_factory):
    """tools/test.py on the trained tiny U-Net, in one process: its output
    and its --out metrics file."""
    work_dir, options, _ = camvid_unet
    test_dir = tmp_path_factory.mktemp('unet_camvid_test')
    out = test_dir / 'metrics.json'
    log = run_tool('tools/test.py', 'configs/unet_camvid_quick.py',
                   str(work_dir / 'iter_6.pth'), '--work-dir', str(test_dir),
                   '--out', str(out), '--cfg-options', *options)
    return log, out


def test_test_tool_prints_and_writes_miou(camvid_test):
    log, out = camvid_test
    metrics = json.loads(out.read_text())
    assert 0.0 <= metrics['mIoU'] <= 1.0
    assert f"mIoU: {metrics['mIoU']:.4f}" in log
    assert 'Sky' in log and 'Bicyclist' in log  # the per-class table
    assert 'System environment' not in log  # in the log file only


def predictions(config: str, checkpoint: Path, options: list) -> list:
    """``(file name, prediction, ground truth)`` of each test image, the
    model run in this process, image by image."""
    cfg = load_config(config, {key: parse_override_value(value) for key, value
                               in (o.split('=', 1) for o in options)})
    model = init_model(cfg, str(checkpoint))
    with DefaultScope.overwrite_default_scope('segkit'):
        dataset = DATASETS.build(cfg.test_dataloader.dataset)
    found = []
    for index in range(len(dataset)):
        with torch.no_grad():
            [sample] = model.test_step(pseudo_collate([dataset[index]]))
        found.append((Path(sample.img_path).name,
                      sample.pred_sem_seg.data[0].numpy(),
                      sample.gt_sem_seg.data[0].numpy()))
    return found


def image_miou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean IoU over the classes in the labelled truth or the prediction."""
    labelled = truth != 255
    ious = []
    for c in np.union1d(pred[labelled], truth[labelled]):
        p, t = (pred == c) & labelled, (truth == c) & labelled
        ious.append((p & t).sum() / (p | t).sum())
    return float(np.mean(ious))


def report_of_test(work_dir: Path, *args: str) -> str:
    """Run tools/test.py into ``work_dir``; its run's report.html."""
    run_tool('tools/test.py', *args, '--work-dir', str(work_dir))
    [run] = work_dir.glob('2*/')
    return (run / 'report.html').read_text()


def captions(page: str, element_id: str) -> list:
    """The panel captions inside the element ``element_id``, in order."""
    part = page.split(f'id="{element_id}"', 1)[1].split('</div>', 1)[0]
    return re.findall(r'<figcaption>([^<]*)</figcaption>', part)


def test_test_report_shows_the_worst_images_of_the_set_in_score_order(
        camvid_unet, tmp_path):
    work_dir, options, _ = camvid_unet
    checkpoint = work_dir / 'iter_6.pth'
    scored = sorted((image_miou(pred, truth), name) for name, pred, truth
                    in predictions('configs/unet_camvid_quick.py',
                                   checkpoint, options))
    assert len(scored) == 4
    page = report_of_test(tmp_path, 'configs/unet_camvid_quick.py',
                          str(checkpoint), '--worst', '3', '--cfg-options',
                          *options)
    assert '<h2 id="failures">Where the model fails</h2>' in page
    assert 'The 3 lowest of 4 test images by the image&#x27;s mIoU' in page
    assert captions(page, 'worst-images') == [
        f'{rank}. {name}: {score:.4f}'
        for rank, (score, name) in enumerate(scored[:3], 1)]
    confused = page.split('id="most-confused"', 1)[1].split('</ul>', 1)[0]
    assert len(re.findall(r'<li>[^<]+: (?:[\d.]+ % as [^<]+|never mistaken|'
                          r'no pixels in the ground truth)</li>',
                          confused)) == 11  # one line per CamVid class
    assert 'False positives on empty frames' not in page  # 11 classes


def test_resume_continues_from_the_last_iteration(camvid_unet):
    work_dir, options, _ = camvid_unet
    log = train('configs/unet_camvid_quick.py', work_dir, options, 9,
                '--resume')
    assert '9 iterations, validation every 3, resumed at iteration 6' in log
    full = run_log(work_dir)
    assert re.search(r'resumed epoch: \d+, iter: 6', full)
    assert 'Iter(train) [7/9]' in full and 'Iter(train) [1/9]' not in full
    ckpt = torch.load(work_dir / 'iter_9.pth', map_location='cpu')
    assert ckpt['meta']['iter'] == 9


@pytest.fixture(scope='module')
def carvana_unet(tmp_path_factory, carvana_sample_root):
    work_dir = tmp_path_factory.mktemp('unet_carvana_quick')
    options = [f'data_root={carvana_sample_root}', *FAST, *SMALL_UNET]
    log = train('configs/unet_carvana_quick.py', work_dir, options)
    return work_dir, options, log


def test_binary_unet_on_carvana_reports_dice_and_writes_rle(
        carvana_unet, carvana_sample_root):
    work_dir, options, log = carvana_unet
    assert re.search(r'Dice: \d\.\d+\s+DatasetDice: \d\.\d+', log)
    assert list(work_dir.glob('best_Dice_iter_*.pth'))

    submission = work_dir / 'submission.csv'
    run_tool('tools/test.py', 'configs/unet_carvana_quick.py',
             str(work_dir / 'iter_6.pth'), '--work-dir', str(work_dir),
             '--format-only', '--out', str(submission), '--cfg-options',
             *options)
    rows = read_rle_csv(str(submission))
    assert rows and all(name.endswith('.jpg') for name in rows)
    name, rle = next(iter(rows.items()))
    width, height = Image.open(carvana_sample_root / 'train' / name).size
    mask = rle_decode(rle, (height, width))  # at the original image size
    assert set(np.unique(mask)) <= {0, 1}


def image_dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """The car's Dice, Kaggle's way: 1 when truth and prediction are both
    empty."""
    labelled = truth != 255
    p, t = (pred == 1) & labelled, (truth == 1) & labelled
    total = p.sum() + t.sum()
    return 1.0 if total == 0 else float(2 * (p & t).sum() / total)


def test_binary_test_report_shows_the_car_free_frames_it_finds_cars_on(
        carvana_unet, tmp_path):
    work_dir, options, _ = carvana_unet
    checkpoint = work_dir / 'iter_6.pth'
    # Six iterations leave every probability of a car near 0.45: a lower
    # threshold makes this model see cars, on every frame.
    options = [*options, 'model.threshold=0.4']
    found = predictions('configs/unet_carvana_quick.py', checkpoint, options)
    # The test car, 7a948f998779: its views 05 to 10 show no car.
    empty = [(name, int(((pred == 1) & (truth != 255)).sum()))
             for name, pred, truth in found if not (truth == 1).any()]
    assert [name for name, _ in empty] == [
        f'7a948f998779_{view:02}.jpg' for view in range(5, 11)]
    false_positives = sorted([e for e in empty if e[1]], key=lambda e: -e[1])
    assert false_positives, 'no car predicted on a car-free frame'
    scored = sorted((image_dice(pred, truth), index, name)
                    for index, (name, pred, truth) in enumerate(found))
    page = report_of_test(tmp_path, 'configs/unet_carvana_quick.py',
                          str(checkpoint), '--worst', '3', '--cfg-options',
                          *options)
    assert captions(page, 'worst-images') == [
        f'{rank}. {name}: {score:.4f}'
        for rank, (score, _, name) in enumerate(scored[:3], 1)]
    assert ('6 of 16 test images have no car in the ground truth; the model '
            f'predicts car pixels on {len(false_positives)} of them') in page
    assert ''.join(f'<tr><td>{name}</td><td class="num">{pixels}</td></tr>'
                   for name, pixels in false_positives) in page
    assert captions(page, 'empty-false-positives') == [
        f'{name}: {pixels} false pixels'
        for name, pixels in false_positives[:3]]


def test_deeplabv3_trains_and_tests_on_camvid(tmp_path, camvid_sample_root):
    options = [f'data_root={camvid_sample_root}', *FAST]
    log = train('configs/deeplabv3_mbv3_camvid_quick.py', tmp_path, options,
                3)
    assert re.search(r'aux0?\.loss_ce: \d', run_log(tmp_path))
    log = run_tool('tools/test.py', 'configs/deeplabv3_mbv3_camvid_quick.py',
                   str(tmp_path / 'iter_3.pth'), '--work-dir', str(tmp_path),
                   '--cfg-options', *options)
    assert re.search(r'mIoU: \d\.\d+', log)


def test_resnet_unet_trains_tests_and_resumes_on_carvana(
        tmp_path, carvana_sample_root):
    """The smp recipe's EncoderDecoder (a ResNet-18 encoder: timm's
    ResNet-18-D at depth 4 with a full-resolution skip in the quick config;
    gradient accumulation over 2 batches, as unet_r18_carvana.py) through
    the three tools."""
    options = [f'data_root={carvana_sample_root}', *FAST,
               'val_dataloader.dataset.indices=4',
               'test_dataloader.dataset.indices=4',
               'optim_wrapper.accumulative_counts=2',
               'train_cfg.val_interval=10',
               'default_hooks.checkpoint.interval=2']
    train('configs/unet_r18_carvana_quick.py', tmp_path, options, 2)
    full = run_log(tmp_path)
    assert re.search(r'decode\.loss_bce: \d.*decode\.loss_dice: \d', full)
    log = run_tool('tools/test.py', 'configs/unet_r18_carvana_quick.py',
                   str(tmp_path / 'iter_2.pth'), '--work-dir', str(tmp_path),
                   '--cfg-options', *options)
    assert re.search(r'Dice: \d\.\d+', log)
    log = train('configs/unet_r18_carvana_quick.py', tmp_path, options, 3,
                '--resume')
    assert 'resumed at iteration 2' in log
    ckpt = torch.load(tmp_path / 'iter_3.pth', map_location='cpu')
    assert ckpt['meta']['iter'] == 3
    # The quick config's depth-4 encoder, ResNet-18-D (its 3-convolution
    # stem) up to layer3, under a full-resolution stem.
    keys = ckpt['state_dict']
    assert 'backbone.backbone.model.conv1.0.weight' in keys
    assert 'backbone.backbone.model.layer3.1.conv2.weight' in keys
    assert 'backbone.stem.0.weight' in keys
    assert not any('.layer4.' in key for key in keys)


def dist_run(script: str, *args: str) -> str:
    """A real torchrun launch (gloo on this CPU) through the shell wrapper."""
    proc = subprocess.run(['bash', script, *args], cwd=REPO, text=True,
                          capture_output=True, timeout=600,
                          env={**os.environ, 'PYTHON': sys.executable,
                               'PORT': str(29500 + os.getpid() % 1000)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_distributed_test_counts_every_sample_once(camvid_unet, camvid_test,
                                                  tmp_path):
    """3 processes over 4 validation frames: the sampler pads the last
    shard, and the metric must still equal the single-process one."""
    work_dir, options, _ = camvid_unet
    _, single = camvid_test
    multi = tmp_path / 'multi.json'
    ckpt = str(work_dir / 'iter_6.pth')
    dist_run('tools/dist_test.sh', 'configs/unet_camvid_quick.py', ckpt, '3',
             '--work-dir', str(tmp_path / 'multi'), '--out', str(multi),
             '--cfg-options', *options)
    log = run_log(tmp_path / 'multi')
    assert 'Distributed training: True' in log
    assert 'GPU number: 3' in log  # MMEngine's name for the world size
    assert json.loads(multi.read_text()) == json.loads(single.read_text())


def test_a_time_budget_ends_inside_it_with_a_scored_checkpoint(
        tmp_path, camvid_sample_root):
    work_dir = tmp_path / 'budget'
    # Timing 5 iterations instead of 25 leaves most of 12 s to fill.
    log = run_tool('tools/train.py', 'configs/unet_camvid_quick.py',
                   '--work-dir', str(work_dir), '--minutes', '0.2',
                   '--cfg-options', f'data_root={camvid_sample_root}',
                   'train_cfg.skip_iters=2', 'train_cfg.calibration_iters=5',
                   'train_dataloader.batch_size=2',
                   'train_dataloader.num_workers=1',
                   'val_dataloader.num_workers=1', *SMALL_UNET)
    assert '0.2 minutes: the schedule written for 2400 iterations' in log
    assert re.search(r'time budget: [\d.]+ s an iteration, .* -> \d+ '
                     r'iterations in 0\.2 min', log), log
    done = re.search(r'time budget: (\d+) iterations in ([\d.]+) min of '
                     r'0\.2 min', log)
    assert done, log
    iters = int(done.group(1))
    assert float(done.group(2)) <= 0.2
    assert (work_dir / f'iter_{iters}.pth').is_file()
    assert re.search(rf'val at iteration {iters}: aAcc', log)
