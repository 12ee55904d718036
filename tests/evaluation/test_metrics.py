"""IoUMetric and DiceMetric against hand-computed numbers.

Expected values are written out by hand (or by the explicit pixel loop in
``reference_confusion``), never by the helper under test.
"""
import logging
import math
from typing import List, Optional, Sequence

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.logging import MMLogger
from mmengine.structures import PixelData

from segkit.evaluation import DiceMetric, IoUMetric, confusion_matrix
from segkit.registry import METRICS
from segkit.structures import SegDataSample
from segkit.utils.console import shown_on_console

NAN = float('nan')


def sample(pred: Sequence, label: Sequence,
           img_path: Optional[str] = None) -> SegDataSample:
    """A SegDataSample with (1, H, W) int64 prediction and ground truth."""
    s = SegDataSample(metainfo=dict(ori_shape=np.shape(label)))
    if img_path is not None:
        s.set_metainfo(dict(img_path=img_path))
    s.pred_sem_seg = PixelData(data=torch.tensor([pred], dtype=torch.long))
    s.gt_sem_seg = PixelData(data=torch.tensor([label], dtype=torch.long))
    return s


def run(metric, samples: List[SegDataSample], batch_size: int = 2) -> dict:
    """Feed the metric what MMEngine's Evaluator feeds it: ``to_dict()``s."""
    for i in range(0, len(samples), batch_size):
        metric.process({}, [s.to_dict() for s in samples[i:i + batch_size]])
    return metric.compute_metrics(metric.results)


def assert_close(actual: dict, expected: dict) -> None:
    assert set(actual) == set(expected)
    for key, value in expected.items():
        assert isinstance(actual[key], float), key
        if math.isnan(value):
            assert math.isnan(actual[key]), key
        else:
            assert actual[key] == pytest.approx(value, abs=1e-12), key


# label rows / pred columns, counted by hand over the 5 non-ignored pixels:
#   label 0: pred 0, pred 1      -> row [1, 1, 0]
#   label 1: pred 1, pred 1      -> row [0, 2, 0]
#   label 2: pred 0              -> row [1, 0, 0]
#   label 255 (pred 2) ignored
HAND_PRED = [[0, 1, 1], [1, 0, 2]]
HAND_LABEL = [[0, 0, 1], [1, 2, 255]]
HAND_MATRIX = [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
# class: IoU = tp/(gt+pred-tp), Dice = 2tp/(gt+pred), Acc = tp/gt
#   0: tp 1, gt 2, pred 2 -> 1/3, 1/2, 1/2
#   1: tp 2, gt 2, pred 3 -> 2/3, 4/5, 1
#   2: tp 0, gt 1, pred 0 -> 0,   0,   0
HAND_EXPECTED = {
    'aAcc': 3 / 5,
    'mIoU': (1 / 3 + 2 / 3 + 0) / 3,
    'mDice': (1 / 2 + 4 / 5 + 0) / 3,
    'mAcc': (1 / 2 + 1 + 0) / 3,
    'IoU.sky': 1 / 3,
    'IoU.road': 2 / 3,
    'IoU.car': 0.0,
}


def test_confusion_matrix_by_hand():
    pred = torch.tensor([HAND_PRED])
    label = torch.tensor([HAND_LABEL])
    assert confusion_matrix(pred, label, 3).tolist() == HAND_MATRIX
    assert confusion_matrix(pred, label, 3).dtype == torch.int64


def test_iou_metric_by_hand_with_class_names_from_dataset_meta():
    metric = IoUMetric()
    metric.dataset_meta = dict(classes=('sky', 'road', 'car'))
    assert_close(run(metric, [sample(HAND_PRED, HAND_LABEL)]), HAND_EXPECTED)


def test_ignored_pixels_do_not_count_whatever_is_predicted_there():
    """Changing predictions under 255 labels changes nothing."""
    label = [[0, 255, 1, 255]]
    a = run(IoUMetric(num_classes=2), [sample([[0, 0, 1, 1]], label)])
    b = run(IoUMetric(num_classes=2), [sample([[0, 1, 1, 0]], label)])
    assert a == b == {'aAcc': 1.0, 'mIoU': 1.0, 'mDice': 1.0, 'mAcc': 1.0,
                      'IoU.0': 1.0, 'IoU.1': 1.0}


def test_absent_class_is_nan_and_left_out_of_the_means():
    # class 2 appears in neither prediction nor ground truth
    # class 0: tp 2, gt 3, pred 2 -> IoU 2/3, Dice 4/5, Acc 2/3
    # class 1: tp 1, gt 1, pred 2 -> IoU 1/2, Dice 2/3, Acc 1
    result = run(IoUMetric(num_classes=3),
                 [sample([[0, 0, 1, 1]], [[0, 0, 0, 1]])])
    assert_close(result, {
        'aAcc': 3 / 4,
        'mIoU': (2 / 3 + 1 / 2) / 2,
        'mDice': (4 / 5 + 2 / 3) / 2,
        'mAcc': (2 / 3 + 1) / 2,
        'IoU.0': 2 / 3, 'IoU.1': 1 / 2, 'IoU.2': NAN,
    })


def test_a_class_only_predicted_scores_0_and_counts_as_in_mmseg():
    """Issue 24's 'Animal 0.0000 0.0000 nan 0.0000': a class with no
    ground-truth pixel that the model predicts somewhere. mmsegmentation
    scores it the same way (IoU = intersect / union, union = the predicted
    pixels > 0, so 0, and nanmean keeps it); only a class absent from both
    is NaN and left out (test above)."""
    # class 2 predicted once, never labelled; class 3 neither
    result = run(IoUMetric(num_classes=4),
                 [sample([[0, 0, 1, 2]], [[0, 0, 1, 1]])])
    assert_close(result, {
        'aAcc': 3 / 4,
        'mIoU': (1 + 1 / 2 + 0) / 3,
        'mDice': (1 + 2 / 3 + 0) / 3,
        'mAcc': (1 + 1 / 2) / 2,
        'IoU.0': 1.0, 'IoU.1': 1 / 2, 'IoU.2': 0.0, 'IoU.3': NAN,
    })


def test_nan_to_num_replaces_reported_nan_but_not_the_means():
    result = run(IoUMetric(num_classes=3, nan_to_num=0.0),
                 [sample([[0, 0, 1, 1]], [[0, 0, 0, 1]])])
    assert result['IoU.2'] == 0.0
    assert result['mIoU'] == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_dataset_totals_differ_from_mean_of_per_batch_miou():
    small = sample([[0]], [[0]])            # batch 1: mIoU 1 (class 1 NaN)
    large = sample([[0] * 50 + [1] * 50],   # batch 2: IoU 0 / 0.5 -> 0.25
                   [[1] * 100])
    per_batch = [run(IoUMetric(num_classes=2), [s])['mIoU']
                 for s in (small, large)]
    assert per_batch == [1.0, 0.25]
    # summed: label 0 -> [1, 0], label 1 -> [50, 50]
    #   IoU 0 = 1 / (1 + 51 - 1), IoU 1 = 50 / (100 + 50 - 50)
    total = run(IoUMetric(num_classes=2), [small, large])['mIoU']
    assert total == pytest.approx((1 / 51 + 50 / 100) / 2)
    assert total != pytest.approx(sum(per_batch) / 2)


def reference_confusion(samples, num_classes: int, ignore: int = 255):
    """The confusion matrix by an explicit loop over pixels."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    for s in samples:
        pred = s.pred_sem_seg.data.flatten().tolist()
        label = s.gt_sem_seg.data.flatten().tolist()
        for p, g in zip(pred, label):
            if g != ignore:
                matrix[g, p] += 1
    return matrix


def random_samples(n: int, num_classes: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        h, w = 3 + i % 4, 5 + i % 3
        label = torch.randint(0, num_classes, (h, w), generator=g)
        label[torch.rand(h, w, generator=g) < 0.2] = 255
        pred = torch.randint(0, num_classes, (h, w), generator=g)
        out.append(sample(pred.tolist(), label.tolist()))
    return out


def test_random_data_matches_explicit_pixel_loop():
    samples = random_samples(12, num_classes=4)
    m = reference_confusion(samples, 4)
    result = run(IoUMetric(num_classes=4), samples, batch_size=5)
    for c in range(4):
        tp, gt, pr = m[c, c], m[c].sum(), m[:, c].sum()
        assert result[f'IoU.{c}'] == pytest.approx(tp / (gt + pr - tp))
    assert result['aAcc'] == pytest.approx(np.trace(m) / m.sum())
    assert all(0 <= v <= 1 for v in result.values())


def test_distributed_collection_equals_single_process():
    """BaseMetric concatenates every rank's results before compute_metrics."""
    samples = random_samples(9, num_classes=3, seed=1)
    single = IoUMetric(num_classes=3)
    expected = run(single, samples)
    rank0, rank1 = IoUMetric(num_classes=3), IoUMetric(num_classes=3)
    run(rank0, samples[0::2])   # a DistributedSampler interleaves ranks
    run(rank1, samples[1::2])
    merged = IoUMetric(num_classes=3)
    assert merged.compute_metrics(rank0.results + rank1.results) == expected

    dice_single = DiceMetric()
    binary = [sample((s.pred_sem_seg.data[0] % 2).tolist(),
                     (s.gt_sem_seg.data[0] % 2).tolist()) for s in samples]
    expected_dice = run(dice_single, binary)
    parts = [DiceMetric(), DiceMetric()]
    run(parts[0], binary[:4])
    run(parts[1], binary[4:])
    assert DiceMetric().compute_metrics(
        parts[0].results + parts[1].results) == expected_dice


def test_one_result_per_sample_so_padding_can_be_dropped():
    metric = IoUMetric(num_classes=3)
    run(metric, random_samples(5, num_classes=3), batch_size=2)
    assert len(metric.results) == 5
    assert all(path is None and m.shape == (3, 3) and m.device.type == 'cpu'
               for path, m in metric.results)


def test_each_image_is_kept_with_its_path_and_scored():
    # a: class 0 IoU 2/3, class 1 IoU 1/2, class 2 in neither: left out
    # b: every pixel ignored: no score
    # c: class 1 predicted on class 2: IoU 0 for both
    samples = [sample([[0, 0, 1, 1]], [[0, 0, 0, 1]], 'a.png'),
               sample([[2, 2, 2, 2]], [[255] * 4], 'b.png'),
               sample([[1, 1, 1, 1]], [[2, 2, 2, 2]], 'c.png')]
    metric = IoUMetric(num_classes=3)
    run(metric, samples)
    assert metric.image_paths == ['a.png', 'b.png', 'c.png']
    assert metric.image_confusion.tolist()[0] == [[2, 1, 0], [0, 1, 0],
                                                  [0, 0, 0]]
    assert metric.confusion.tolist() == metric.image_confusion.sum(
        0).tolist()
    scores = metric.score_images(metric.image_confusion).tolist()
    assert scores[0] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert math.isnan(scores[1]) and scores[2] == 0.0
    # Kept per rank: collecting two ranks' results keeps path and matrix
    # together.
    rank0, rank1 = IoUMetric(num_classes=3), IoUMetric(num_classes=3)
    run(rank0, samples[:1])
    run(rank1, samples[1:])
    merged = IoUMetric(num_classes=3)
    merged.compute_metrics(rank1.results + rank0.results)
    assert merged.image_paths == ['b.png', 'c.png', 'a.png']
    assert merged.image_confusion[2].tolist() == \
        metric.image_confusion[0].tolist()


def test_through_mmengine_evaluator_with_segdatasamples():
    """The real path: Evaluator converts SegDataSample to dicts; no prefix."""
    evaluator = Evaluator(METRICS.build(dict(type='IoUMetric')))
    evaluator.dataset_meta = dict(classes=('sky', 'road', 'car'))
    evaluator.process([sample(HAND_PRED, HAND_LABEL)], data_batch={})
    assert_close(evaluator.evaluate(1), HAND_EXPECTED)

    prefixed = Evaluator(IoUMetric(num_classes=3, prefix='val_seg'))
    prefixed.process([sample(HAND_PRED, HAND_LABEL)])
    assert 'val_seg/mIoU' in prefixed.evaluate(1)


def test_segdatasample_passed_directly_is_accepted():
    direct = IoUMetric(num_classes=3)
    direct.process({}, [sample(HAND_PRED, HAND_LABEL)])
    assert direct.results[0][1].tolist() == HAND_MATRIX


def test_table_is_printed_to_the_console_with_class_names_and_nan():
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    metric = IoUMetric()
    metric.dataset_meta = dict(classes=('sky', 'road', 'car', 'bicyclist'))
    try:
        run(metric, [sample(HAND_PRED, HAND_LABEL)])
    finally:
        logger.removeHandler(handler)
    [record] = records
    assert shown_on_console(record)  # not only in the log file
    # The dataset's confusion matrix, kept for the report's picture.
    assert metric.confusion.tolist() == [[1, 1, 0, 0], [0, 2, 0, 0],
                                         [1, 0, 0, 0], [0, 0, 0, 0]]
    lines = record.getMessage().strip().splitlines()
    assert lines[0].split() == ['Class', 'IoU', 'Dice', 'Acc', 'Precision']
    assert lines[2].split() == ['sky', '0.3333', '0.5000', '0.5000', '0.5000']
    assert lines[4].split() == ['car', '0.0000', '0.0000', '0.0000', 'nan']
    assert lines[5].split() == ['bicyclist', 'nan', 'nan', 'nan', 'nan']
    assert lines[7].split() == ['mean', '0.3333', '0.4333', '0.5000',
                                '0.5833']
    assert len({len(line) for line in lines[:2]}) == 1  # fixed width


def test_num_classes_required_and_must_match_dataset_meta():
    with pytest.raises(ValueError, match='num_classes or'):
        IoUMetric().process({}, [sample([[0]], [[0]]).to_dict()])
    metric = IoUMetric(num_classes=2)
    metric.dataset_meta = dict(classes=('a', 'b', 'c'))
    with pytest.raises(ValueError, match='num_classes=2 but dataset_meta'):
        metric.process({}, [sample([[0]], [[0]]).to_dict()])


def test_class_id_out_of_range_is_an_error():
    with pytest.raises(ValueError, match=r'prediction has class ids \[3\]'):
        run(IoUMetric(num_classes=3), [sample([[0, 3]], [[0, 1]])])
    with pytest.raises(ValueError, match=r'ground truth has class ids \[7\]'):
        run(IoUMetric(num_classes=3), [sample([[0, 1]], [[7, 1]])])
    # a prediction on an ignored pixel is not counted, so not checked
    run(IoUMetric(num_classes=3), [sample([[0, 9]], [[0, 255]])])
    with pytest.raises(ValueError,
                       match=r'shape \(1, 1, 2\) != .* \(1, 1, 3\)'):
        run(IoUMetric(num_classes=3), [sample([[0, 1]], [[0, 1, 2]])])


def test_missing_ground_truth_is_a_clear_error():
    s = SegDataSample()
    s.pred_sem_seg = PixelData(data=torch.zeros(1, 2, 2, dtype=torch.long))
    with pytest.raises(KeyError, match='gt_sem_seg'):
        IoUMetric(num_classes=2).process({}, [s.to_dict()])


# DiceMetric -----------------------------------------------------------------
# image A: gt fg 4 px, pred fg 2 of them     -> Dice 2*2/(2+4) = 2/3
# image B: empty prediction, empty gt        -> 1
# image C: gt fg 1 px, nothing predicted     -> 0
# Kaggle Dice = (2/3 + 1 + 0) / 3 = 5/9
# dataset: tp 2, pred 2, gt 5 -> Dice 4/7, IoU 2/5
DICE_SAMPLES = [
    sample([[1, 1, 0, 0, 0]], [[1, 1, 1, 1, 0]]),
    sample([[0, 0, 0, 0, 0]], [[0, 0, 0, 0, 0]]),
    sample([[0, 0, 0, 0, 0]], [[0, 0, 1, 0, 0]]),
]


def test_dice_kaggle_score_differs_from_dataset_dice_by_hand():
    metric = DiceMetric()
    result = run(metric, DICE_SAMPLES)
    assert_close(result, {'Dice': 5 / 9, 'DatasetDice': 4 / 7, 'IoU': 2 / 5})
    # Dice is the mean of the images' own scores, the ones a report ranks.
    assert metric.score_images(metric.image_confusion).tolist() == \
        pytest.approx([2 / 3, 1.0, 0.0])


def test_dice_empty_prediction_and_ground_truth_scores_one():
    empty = sample([[0, 0], [0, 0]], [[0, 0], [0, 255]])
    assert run(DiceMetric(), [empty]) == {
        'Dice': 1.0, 'DatasetDice': 1.0, 'IoU': 1.0}
    # one wrong pixel is not "empty": false positive only -> 0
    fp = sample([[1, 0]], [[0, 0]])
    assert run(DiceMetric(), [fp]) == {'Dice': 0.0, 'DatasetDice': 0.0,
                                       'IoU': 0.0}


def test_dice_ignores_255_and_stays_within_one():
    # the 255 pixel predicted fg would be a false positive if counted
    result = run(DiceMetric(), [sample([[1, 1, 0]], [[1, 255, 0]])])
    assert result == {'Dice': 1.0, 'DatasetDice': 1.0, 'IoU': 1.0}
    noisy = [sample((s.pred_sem_seg.data[0] % 2).tolist(),
                    s.gt_sem_seg.data[0].where(
                        s.gt_sem_seg.data[0] == 255,
                        s.gt_sem_seg.data[0] % 2).tolist())
             for s in random_samples(10, num_classes=4, seed=2)]
    values = run(DiceMetric(), noisy).values()
    assert all(0 <= v <= 1 for v in values)


def test_dice_rejects_non_binary_prediction():
    with pytest.raises(ValueError, match=r'class ids \[2\] outside \[0, 2\)'):
        run(DiceMetric(), [sample([[0, 2]], [[0, 1]])])
