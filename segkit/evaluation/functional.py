"""Confusion-matrix arithmetic shared by every segmentation metric.

Pixels are counted once, into a confusion matrix, and every score is derived
from that matrix by :func:`class_scores`, so IoU, Dice and accuracy can never
disagree about which pixels were counted.
"""
from typing import Any, Mapping, NamedTuple, Tuple

import torch
from torch import Tensor

#: The object's class in a binary task (0 is the background).
FOREGROUND = 1


class ClassScores(NamedTuple):
    """Scores derived from confusion matrices of shape ``(..., C, C)``.

    Each per-class field has shape ``(..., C)``, ``aacc`` has shape ``(...)``;
    all are float64 fractions in ``[0, 1]``. A 0/0 ratio is NaN: IoU and Dice
    of a class absent from both prediction and ground truth, Acc of a class
    absent from the ground truth, precision of a class never predicted.
    """

    iou: Tensor
    dice: Tensor
    acc: Tensor
    precision: Tensor
    aacc: Tensor


def seg_maps(data_sample: Any) -> Tuple[Tensor, Tensor]:
    """``(pred, label)`` class maps of one sample, as a metric receives it.

    MMEngine's Evaluator hands metrics ``SegDataSample.to_dict()`` (pixel
    fields become ``{'data': tensor}``); a ``SegDataSample`` passed straight
    to ``metric.process`` is accepted too.
    """
    if not isinstance(data_sample, Mapping):
        data_sample = data_sample.to_dict()
    missing = [f for f in ('pred_sem_seg', 'gt_sem_seg')
               if f not in data_sample]
    if missing:
        raise KeyError(
            f'a data sample lacks {missing}; it has {sorted(data_sample)}. '
            'Metrics need the prediction and the ground truth (load the '
            'annotation in the val/test pipeline).')
    return (data_sample['pred_sem_seg']['data'],
            data_sample['gt_sem_seg']['data'])


def confusion_matrix(pred: Tensor, label: Tensor, num_classes: int,
                     ignore_index: int = 255) -> Tensor:
    """``(C, C)`` int64 pixel counts; rows: ground truth, columns: prediction.

    Pixels whose label is ``ignore_index`` are left out. Computed with one
    ``bincount`` on the tensors' own device. A class id outside
    ``[0, num_classes)`` on a counted pixel is an error: bincount would
    silently file it under a neighbouring (label, pred) cell.
    """
    if pred.shape != label.shape:
        raise ValueError(
            f'prediction shape {tuple(pred.shape)} != ground truth shape '
            f'{tuple(label.shape)}; predictions must be at the original '
            'image size, like the ground truth')
    keep = label != ignore_index
    pred = pred[keep].long()
    label = label[keep].long()
    for name, ids in (('prediction', pred), ('ground truth', label)):
        bad = (ids < 0) | (ids >= num_classes)
        if bad.any():
            raise ValueError(
                f'{name} has class ids {ids[bad].unique().tolist()} outside '
                f'[0, {num_classes}) (num_classes={num_classes}, '
                f'ignore_index={ignore_index})')
    counts = torch.bincount(num_classes * label + pred,
                            minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def class_scores(confusion: Tensor) -> ClassScores:
    """Per-class IoU, Dice (F1), Acc (recall), precision and overall accuracy.

    Works on one matrix or a stack of them (leading batch dimensions), so a
    metric can score a dataset total and every image with the same code.
    """
    confusion = confusion.double()
    tp = confusion.diagonal(dim1=-2, dim2=-1)
    label_area = confusion.sum(-1)
    pred_area = confusion.sum(-2)
    return ClassScores(
        iou=tp / (label_area + pred_area - tp),
        dice=2 * tp / (label_area + pred_area),
        acc=tp / label_area,
        precision=tp / pred_area,
        aacc=tp.sum(-1) / confusion.sum((-2, -1)),
    )
