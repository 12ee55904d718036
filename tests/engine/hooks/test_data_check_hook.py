"""DataCheckHook: the masks check before the first iteration, and the
ignored share of the first training batches."""
import itertools
import logging
import shutil
from types import SimpleNamespace
from typing import List

import pytest
import torch
from mmengine.structures import PixelData

from segkit.datasets import FolderSegDataset
from segkit.datasets.data_check import MIN_MASKS
from segkit.engine.hooks import DataCheckHook
from segkit.structures import SegDataSample
from segkit.utils import DataError


class Records(logging.Handler):

    def __init__(self) -> None:
        super().__init__()
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int) -> List[str]:
        return [r.getMessage() for r in self.records if r.levelno == level]


# A new logger name a runner: named by id(dataset), a test could get an
# earlier test's logger (ids are reused once freed), and its records.
_RUNNERS = itertools.count()


def fake_runner(dataset, max_iters: int = 100) -> SimpleNamespace:
    logger = logging.getLogger(f'data_check_{next(_RUNNERS)}')
    logger.setLevel(logging.INFO)
    logger.addHandler(Records())
    loader = SimpleNamespace(dataset=dataset)
    return SimpleNamespace(logger=logger, train_dataloader=loader,
                           val_loop=SimpleNamespace(), val_dataloader=loader,
                           iter=0, max_iters=max_iters)


def records(runner) -> Records:
    return runner.logger.handlers[0]


def isbi_set(root, isbi_root, classes) -> FolderSegDataset:
    for sub in ('images', 'labels'):
        shutil.copytree(isbi_root / sub, root / sub)
    return FolderSegDataset(
        root, metainfo=dict(classes=classes),
        data_prefix=dict(img_path='images', seg_map_path='labels'))


def test_before_train_states_the_binary_reading_on_the_console(
        tmp_path, isbi_root):
    dataset = isbi_set(tmp_path, isbi_root, ('bg', 'cell'))
    runner = fake_runner(dataset)
    DataCheckHook().before_train(runner)
    notes = [r for r in records(runner).records
             if getattr(r, 'console', False)]
    assert [r.getMessage() for r in notes] == [
        f'{split} masks hold 0 and 255: FolderSegDataset reads 255 as class '
        "1 ('cell'), its default for 2 classes without a label_map"
        for split in ('train', 'val')]
    [timing] = [m for m in records(runner).messages(logging.INFO)
                if m.startswith('data check: ')]
    read = min(MIN_MASKS, len(dataset))
    assert timing.startswith(
        f'data check: {read} train and {read} val masks read in')


def test_before_train_refuses_masks_that_would_be_ignored(tmp_path,
                                                          isbi_root):
    runner = fake_runner(isbi_set(tmp_path, isbi_root, ('a', 'b', 'c')))
    with pytest.raises(DataError, match='label_map={0: 0, 255: 1}'):
        DataCheckHook().before_train(runner)


def batch(*labels: torch.Tensor) -> dict:
    samples = [SegDataSample(gt_sem_seg=PixelData(data=label[None]))
               for label in labels]
    return dict(inputs=[], data_samples=samples)


def run_batches(hook: DataCheckHook, runner, batches) -> None:
    hook._counted = hook._ignored = hook._pixels = 0
    for index, data in enumerate(batches):
        runner.iter = index
        hook.before_train_iter(runner, index, data)


def test_almost_all_ignored_first_batches_are_warned_once():
    runner = fake_runner(SimpleNamespace())
    hook = DataCheckHook()
    ignored = torch.full((10, 10), 255)
    mostly = ignored.clone()
    mostly[0, :4] = 1  # 96 % ignored
    run_batches(hook, runner, [batch(ignored, mostly)] * 5)
    assert records(runner).messages(logging.WARNING) == [
        '98.0% of the pixels of the first 3 training batches are '
        'ignore_index 255: the model learns from almost nothing; check how '
        'the masks are read (tools/analyze_dataset.py CONFIG) and the crop '
        'size']


def test_a_run_shorter_than_the_counted_batches_decides_at_its_end():
    runner = fake_runner(SimpleNamespace(), max_iters=2)
    run_batches(DataCheckHook(), runner, [batch(torch.full((4, 4), 255))] * 2)
    assert len(records(runner).messages(logging.WARNING)) == 1


def test_a_learnable_share_is_not_warned():
    runner = fake_runner(SimpleNamespace())
    labels = torch.full((10, 10), 255)
    labels[:1] = 0  # 90 % ignored
    run_batches(DataCheckHook(), runner, [batch(labels)] * 3)
    assert not records(runner).messages(logging.WARNING)
