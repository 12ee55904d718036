"""ReportHook's record of where a test run fails, from scripted samples: the
N lowest-scored images by the metric's own per-image score (and only those
N predicted again, one at a time), and a binary task's empty frames with
false positives."""
import json
import logging
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.structures import PixelData

from segkit.apis import ConfigKeyError, load_config
from segkit.engine.hooks import ReportHook, configure_hook
from segkit.evaluation import DiceMetric, IoUMetric
from segkit.structures import SegDataSample
from segkit.utils import ConfigValueError
from segkit.visualization import SegLocalVisualizer

H, W = 4, 6  # 24 pixels an image


class ScriptedModel:
    """Predicts each image as scripted, and notes every batch it gets."""

    def __init__(self, preds: Dict[str, np.ndarray]) -> None:
        self.preds = preds
        self.batches: List[List[str]] = []

    def test_step(self, batch: List[dict]) -> List[SegDataSample]:
        self.batches.append([item['img_path'] for item in batch])
        return [sample(item['img_path'], self.preds[item['img_path']],
                       item['gt']) for item in batch]


class ScriptedDataset:
    """What ReportHook reads of a test set: its data infos and items."""

    def __init__(self, items: List[dict]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def get_data_info(self, index: int) -> dict:
        return dict(img_path=self.items[index]['img_path'])

    def __getitem__(self, index: int) -> dict:
        return self.items[index]


def sample(img_path: str, pred: np.ndarray, gt: np.ndarray) -> SegDataSample:
    s = SegDataSample(metainfo=dict(img_path=img_path))
    s.pred_sem_seg = PixelData(data=torch.from_numpy(pred)[None])
    s.gt_sem_seg = PixelData(data=torch.from_numpy(gt)[None])
    return s


def mask(first: int, value: int = 1) -> np.ndarray:
    """An H x W mask of 0 with its ``first`` pixels (row-major) ``value``."""
    flat = np.zeros(H * W, np.int64)
    flat[:first] = value
    return flat.reshape(H, W)


def scripted_runner(tmp_path: Path, metric, classes, truths, preds):
    """A tested fake runner: ``metric`` has seen every scripted sample, as
    MMEngine's Evaluator feeds it; returns ``(runner, image paths)``."""
    paths = []
    for i in range(len(truths)):
        path = tmp_path / 'data' / f'img{i}.png'
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.full((H, W, 3), 20 * i, np.uint8))
        paths.append(str(path))
    metric.dataset_meta = dict(classes=classes)
    for start in range(0, len(paths), 4):
        metric.process({}, [sample(p, pred, gt).to_dict() for p, pred, gt in
                            list(zip(paths, preds, truths))[start:start + 4]])
    metric.compute_metrics(metric.results)
    items = [dict(img_path=p, gt=gt) for p, gt in zip(paths, truths)]
    loop = SimpleNamespace(
        evaluator=SimpleNamespace(metrics=[metric]),
        dataloader=SimpleNamespace(dataset=ScriptedDataset(items),
                                   collate_fn=list))
    visualizer = SegLocalVisualizer(name=f'failures-{uuid.uuid4().hex}')
    visualizer.dataset_meta = dict(classes=classes)
    run = tmp_path / 'exp' / '20260105_000000'
    run.mkdir(parents=True)
    runner = SimpleNamespace(
        log_dir=str(run), cfg=Config(), logger=logging.getLogger(__name__),
        message_hub=MessageHub(f'failures-{uuid.uuid4().hex}'),
        _train_loop=None, _load_from=None, test_loop=loop,
        model=ScriptedModel(dict(zip(paths, preds))), visualizer=visualizer)
    return runner, paths


def failures(runner) -> dict:
    return json.loads((Path(runner.log_dir) / 'failures.json').read_text())


# Every ground truth all road (class 0); image k predicts its first CARS[k]
# pixels as car. Its mIoU over the classes in truth or prediction: 1 with
# no car; else road (24 - m) / 24 and car 0, so (24 - m) / 48.
CARS = [0, 6, 12, 3, 18, 9, 0, 21, 15, 1]


def test_the_n_worst_of_the_whole_set_are_kept_and_drawn_alone(tmp_path):
    runner, paths = scripted_runner(
        tmp_path, IoUMetric(), ('road', 'car', 'pole'),
        [mask(0)] * len(CARS), [mask(m) for m in CARS])
    ReportHook(worst=3).after_test_epoch(runner, dict(mIoU=0.5))
    recorded = failures(runner)
    assert recorded['rule'] == ("the image's mIoU over the classes in its "
                                'ground truth or its prediction')
    assert recorded['images'] == 10
    assert recorded['worst'] == [
        dict(image=paths[i], score=score,
             panel=f'vis_data/test_failures/img{i}.png')
        for i, score in ((7, 3 / 48), (4, 6 / 48), (8, 9 / 48))]
    assert 'false_positives' not in recorded  # not a binary task
    # Only those 3 were predicted again, one image at a time.
    assert runner.model.batches == [[paths[7]], [paths[4]], [paths[8]]]
    panels = Path(runner.log_dir) / 'vis_data' / 'test_failures'
    assert sorted(p.name for p in panels.iterdir()) == [
        'img4.png', 'img7.png', 'img8.png']
    # input | ground truth | prediction | overlay, at the image's size
    assert cv2.imread(str(panels / 'img7.png')).shape[1] == 4 * W
    page = (Path(runner.log_dir) / 'report.html').read_text()
    assert page.index('1. img7.png: 0.0625') < page.index(
        '2. img4.png: 0.1250') < page.index('3. img8.png: 0.1875')


# a: the car found; b: empty and nothing predicted; c, d, f: empty frames
# with 5, 2 and 9 car pixels predicted; e: a car missed. Dice per image,
# Kaggle's way: 1, 1, 0, 0, 0, 0.
BINARY_CLASSES = ('background', 'car')
BINARY_TRUTHS = [mask(6), mask(0), mask(0), mask(0), mask(4), mask(0)]
BINARY_PREDS = [mask(6), mask(0), mask(5), mask(2), mask(0), mask(9)]


def test_a_binary_task_lists_the_empty_frames_predicted_with_an_object(
        tmp_path):
    runner, paths = scripted_runner(tmp_path, DiceMetric(), BINARY_CLASSES,
                                    BINARY_TRUTHS, BINARY_PREDS)
    ReportHook(worst=2).after_test_epoch(runner, dict(Dice=1 / 3))
    recorded = failures(runner)
    assert recorded['worst'] == [  # equal scores keep the set's order
        dict(image=paths[i], score=0.0,
             panel=f'vis_data/test_failures/img{i}.png') for i in (2, 3)]
    assert recorded['empty_frames'] == 4
    assert recorded['false_positives'] == [
        dict(image=paths[5], pixels=9,
             panel='vis_data/test_failures/img5.png'),
        dict(image=paths[2], pixels=5,
             panel='vis_data/test_failures/img2.png'),
        dict(image=paths[3], pixels=2, panel=None)]  # beyond the 2 drawn
    # img2 is among both and predicted once.
    assert runner.model.batches == [[paths[2]], [paths[3]], [paths[5]]]
    page = (Path(runner.log_dir) / 'report.html').read_text()
    assert ('4 of 6 test images have no car in the ground truth; the model '
            'predicts car pixels on 3 of them (the 2 with the most are '
            'drawn).') in page
    assert '<td>img3.png</td><td class="num">2</td>' in page


def test_worst_0_records_and_predicts_nothing(tmp_path):
    runner, _ = scripted_runner(tmp_path, DiceMetric(), BINARY_CLASSES,
                                BINARY_TRUTHS, BINARY_PREDS)
    ReportHook(worst=0).after_test_epoch(runner, dict(Dice=1 / 3))
    assert not (Path(runner.log_dir) / 'failures.json').exists()
    assert runner.model.batches == []
    page = (Path(runner.log_dir) / 'report.html').read_text()
    assert 'Where the model fails' not in page


def test_a_failure_to_draw_is_a_warning_and_the_report_is_written(
        tmp_path, caplog):
    runner, paths = scripted_runner(tmp_path, DiceMetric(), BINARY_CLASSES,
                                    BINARY_TRUTHS, BINARY_PREDS)
    runner.test_loop.dataloader.dataset.items.pop(2)  # img2: not found
    with caplog.at_level(logging.WARNING, logger=__name__):
        ReportHook(worst=2).after_test_epoch(runner, dict(Dice=1 / 3))
    [record] = caplog.records
    assert record.getMessage().startswith(
        f"ReportHook: no failures.json: KeyError: '{paths[2]} is no image "
        'of the test set')
    assert (Path(runner.log_dir) / 'evaluation.json').is_file()
    assert (Path(runner.log_dir) / 'report.html').is_file()


@pytest.mark.parametrize('worst', [-1, 2.5, True, '8'])
def test_worst_must_be_a_count(worst):
    with pytest.raises(ConfigValueError,
                       match=rf'ReportHook worst={worst!r}: expected an int '
                       r'>= 0 \(the number of worst test images to show; 0 '
                       r'for none\)'):
        ReportHook(worst=worst)


def test_the_tools_set_worst_on_the_configs_report_hook():
    config = str(Path(__file__).resolve().parents[3] / 'configs' /
                 'unet_carvana_quick.py')
    cfg = load_config(config)
    [index] = [i for i, hook in enumerate(cfg.custom_hooks)
               if hook.type == 'ReportHook']
    configure_hook(cfg, 'ReportHook', worst=3)  # tools/test.py --worst 3
    assert cfg.custom_hooks[index] == dict(type='ReportHook', worst=3)
    assert len(load_config(config).custom_hooks) == len(cfg.custom_hooks)
    # --cfg-options knows the argument, and its misspelling.
    key = f'custom_hooks.{index}.worst'
    assert load_config(config, {key: 0}).custom_hooks[index].worst == 0
    with pytest.raises(ConfigKeyError, match=f"did you mean '{key}'"):
        load_config(config, {f'custom_hooks.{index}.wrost': 0})
