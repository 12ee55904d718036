"""SegVisHook: where panels land (per step, per test run, --show-dir), how
many, unique names, rank 0 only -- on a minimal runner, then on a real
Runner training a tiny U-Net on the bundled CamVid sample."""
import uuid
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.runner import (EpochBasedTrainLoop, IterBasedTrainLoop,
                             Runner)
from mmengine.structures import PixelData
from mmengine.visualization import Visualizer

from segkit.apis import load_config
from segkit.engine.hooks import SegVisHook, configure_show_dir
from segkit.engine.hooks import vis_hook
from segkit.structures import SegDataSample
from segkit.visualization import BINARY_PALETTE, SegLocalVisualizer

CONFIG = str(Path(__file__).resolve().parents[3] / 'configs' /
             'unet_camvid_quick.py')
META = dict(classes=('background', 'object'))
H, W = 6, 8


def write_image(path: Path, size=(H, W)) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((*size, 3), 100, np.uint8))
    return str(path)


def make_sample(img_path: str, pred_class: int) -> SegDataSample:
    sample = SegDataSample(metainfo=dict(img_path=img_path))
    sample.gt_sem_seg = PixelData(data=torch.zeros(1, H, W, dtype=torch.long))
    sample.pred_sem_seg = PixelData(
        data=torch.full((1, H, W), pred_class, dtype=torch.long))
    return sample


def fake_runner(tmp_path: Path, loop=None) -> SimpleNamespace:
    vis = SegLocalVisualizer(name=f'test-{uuid.uuid4().hex}')
    vis.dataset_meta = META
    return SimpleNamespace(log_dir=str(tmp_path / 'log'), visualizer=vis,
                           _train_loop=loop)


def iter_loop(iteration: int) -> IterBasedTrainLoop:
    loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)
    loop._iter = iteration
    return loop


def validate(hook: SegVisHook, runner, samples, batch_size=2) -> None:
    hook.before_val(runner)
    for i in range(0, len(samples), batch_size):
        hook.after_val_iter(runner, i, None, samples[i:i + batch_size])


def pred_colour(png: Path) -> tuple:
    """The prediction tile's colour (RGB) in a saved panel."""
    bgr = cv2.imread(str(png))
    return tuple(int(c) for c in bgr[0, 2 * W, ::-1])


@pytest.fixture
def images(tmp_path):
    return [write_image(tmp_path / 'data' / f'img{i}.png') for i in range(5)]


def test_val_panels_per_step_first_n_only_never_overwritten(tmp_path, images):
    runner = fake_runner(tmp_path, iter_loop(2))
    hook = SegVisHook(max_samples=3)
    hook.before_run(runner)
    validate(hook, runner, [make_sample(p, 1) for p in images])
    runner._train_loop = iter_loop(4)
    validate(hook, runner, [make_sample(p, 0) for p in images])

    vis_data = tmp_path / 'log' / 'vis_data'
    assert sorted(p.name for p in vis_data.iterdir()) == ['2', '4']
    for step in ('2', '4'):
        assert sorted(p.name for p in (vis_data / step).iterdir()) == [
            'img0.png', 'img1.png', 'img2.png']
    assert pred_colour(vis_data / '2' / 'img1.png') == BINARY_PALETTE[1]
    assert pred_colour(vis_data / '4' / 'img1.png') == BINARY_PALETTE[0]


def test_epoch_based_loop_names_the_folder_by_epoch(tmp_path, images):
    loop = EpochBasedTrainLoop.__new__(EpochBasedTrainLoop)
    loop._epoch, loop._iter = 3, 120
    runner = fake_runner(tmp_path, loop)
    validate(SegVisHook(), runner, [make_sample(images[0], 1)])
    assert (tmp_path / 'log' / 'vis_data' / '3' / 'img0.png').is_file()


def test_same_stem_in_two_folders_gets_a_suffix(tmp_path):
    paths = [write_image(tmp_path / d / 'frame.png') for d in ('a', 'b')]
    runner = fake_runner(tmp_path)  # no training: step 0
    validate(SegVisHook(), runner, [make_sample(p, 1) for p in paths])
    assert sorted(p.name for p in (tmp_path / 'log' / 'vis_data' / '0')
                  .iterdir()) == ['frame.png', 'frame_1.png']


def test_image_is_resized_to_the_prediction(tmp_path):
    path = write_image(tmp_path / 'big.png', size=(2 * H, 3 * W))
    validate(SegVisHook(), fake_runner(tmp_path), [make_sample(path, 1)])
    panel = cv2.imread(str(tmp_path / 'log' / 'vis_data' / '0' / 'big.png'))
    assert panel.shape[1] == 4 * W


def test_other_ranks_draw_nothing(tmp_path, images, monkeypatch):
    monkeypatch.setattr(vis_hook, 'is_main_process', lambda: False)
    runner = fake_runner(tmp_path, iter_loop(2))
    validate(SegVisHook(), runner, [make_sample(p, 1) for p in images])
    hook = SegVisHook()
    hook.before_test(runner)
    hook.after_test_iter(runner, 0, None, [make_sample(images[0], 1)])
    assert not (tmp_path / 'log').exists()


def test_test_panels_go_to_vis_data_test_or_every_one_to_the_show_dir(
        tmp_path, images):
    runner = fake_runner(tmp_path)
    samples = [make_sample(p, 1) for p in images]
    hook = SegVisHook(max_samples=2)
    hook.before_test(runner)
    hook.after_test_iter(runner, 0, None, samples)
    assert sorted(p.name for p in (tmp_path / 'log' / 'vis_data' / 'test')
                  .iterdir()) == ['img0.png', 'img1.png']

    show_dir = tmp_path / 'show'
    hook = SegVisHook(max_samples=2, test_out_dir=str(show_dir))
    validate(hook, runner, samples)  # validation keeps its limit
    assert len(list((tmp_path / 'log' / 'vis_data' / '0').iterdir())) == 2
    hook.before_test(runner)
    hook.after_test_iter(runner, 0, None, samples)
    assert sorted(p.name for p in show_dir.iterdir()) == [
        f'img{i}.png' for i in range(5)]


def test_a_plain_visualizer_or_bad_max_samples_is_refused(tmp_path):
    runner = fake_runner(tmp_path)
    runner.visualizer = Visualizer(name=f'test-{uuid.uuid4().hex}')
    with pytest.raises(TypeError, match="visualizer=dict\\(type='SegLocal"):
        SegVisHook().before_run(runner)
    with pytest.raises(ValueError, match='max_samples=-1'):
        SegVisHook(max_samples=-1)


def test_configure_show_dir_updates_or_adds_the_hook():
    cfg = load_config(CONFIG)
    configure_show_dir(cfg, 'out/show')
    hooks = [h for h in cfg.custom_hooks if h.type == 'SegVisHook']
    assert hooks == [dict(type='SegVisHook', max_samples=8,
                          test_out_dir='out/show')]
    assert cfg.custom_hooks[0].type == 'NumClassCheckHook'
    cfg.custom_hooks = []
    configure_show_dir(cfg, 'out/show')
    assert cfg.custom_hooks == [dict(type='SegVisHook',
                                     test_out_dir='out/show')]


@pytest.mark.slow  # a real training run
def test_real_runner_draws_each_validation_and_every_shown_test_sample(
        tmp_path, camvid_sample_root):
    loader = dict(num_workers=0, persistent_workers=False)
    options = {
        'data_root': str(camvid_sample_root),
        'model.backbone.base_channels': 4, 'model.backbone.depth': 3,
        'model.data_preprocessor.size_divisor': 8,
        'train_dataloader': dict(loader, batch_size=2),
        # Validation on 2 of the 4 val frames; the test run sees all 4.
        'val_dataloader': dict(loader, dataset=dict(indices=2)),
        'test_dataloader': loader,
        'train_cfg.max_iters': 2, 'train_cfg.val_interval': 1,
        'default_hooks.checkpoint.interval': 2,
        'custom_hooks.1.max_samples': 1, 'log_level': 'WARNING'}
    cfg = load_config(CONFIG, options, str(tmp_path / 'work'))
    cfg.experiment_name = f'test-{uuid.uuid4().hex}'
    configure_show_dir(cfg, str(tmp_path / 'show'))
    runner = Runner.from_cfg(cfg)
    runner.train()
    vis_data = Path(runner.log_dir) / 'vis_data'
    for step in ('1', '2'):
        [panel] = (vis_data / step).glob('*.png')
        # input | truth | prediction | overlay at the native 480x360
        assert cv2.imread(str(panel)).shape[1] == 4 * 480

    runner.test()
    val_images = sorted(p.stem for p in (camvid_sample_root / 'val')
                        .glob('*.png'))
    assert len(val_images) == 4
    assert sorted(p.stem for p in (tmp_path / 'show').iterdir()) == \
        val_images
