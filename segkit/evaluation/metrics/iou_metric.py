"""Multi-class IoU / Dice / accuracy from dataset-wide confusion totals."""
import math
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.logging import MMLogger
from torch import Tensor

from segkit.registry import METRICS
from segkit.utils.console import CONSOLE
from ..functional import ClassScores, class_scores
from .confusion_metric import ConfusionMetric, ImageResult


@METRICS.register_module()
class IoUMetric(ConfusionMetric):
    """mIoU, mDice, aAcc, mAcc and per-class IoU over the whole dataset.

    Scores are fractions in ``[0, 1]`` (not mmseg's percentages), computed
    from the confusion matrix summed over all images: averaging per-batch
    mIoU would weight small images like large ones and depend on batch size.
    A class absent from both prediction and ground truth is NaN and left out
    of the means.

    Reported keys: ``aAcc``, ``mIoU``, ``mDice``, ``mAcc`` and
    ``IoU.<class name>`` per class, all plain floats so MMEngine logs them as
    scalars. The full table (IoU, Dice, Acc, precision per class) is printed
    to the current logger and the console. After scoring, ``confusion``
    holds the dataset's ``(C, C)`` confusion matrix (rows: ground truth,
    columns: prediction), for ``ReportHook`` to draw, and
    ``image_confusion`` those of its images (see :class:`ConfusionMetric`),
    for it to find the worst.

    An image's own score (:meth:`score_images`) is its mIoU over the
    classes in its ground truth or its prediction.

    Args:
        num_classes: defaults to ``len(dataset_meta['classes'])``, which the
            Runner sets from the dataset's metainfo.
        ignore_index: ground-truth value of pixels left out.
        nan_to_num: value reported instead of NaN (e.g. ``0.0`` for strict
            JSON consumers); it does not change which classes enter a mean.
        collect_device, prefix, collect_dir: see ``BaseMetric``. Keys have
            no prefix unless one is given.
    """

    score_rule = ("the image's mIoU over the classes in its ground truth "
                  'or its prediction')

    def __init__(self,
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255,
                 nan_to_num: Optional[float] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(ignore_index=ignore_index,
                         collect_device=collect_device, prefix=prefix,
                         collect_dir=collect_dir)
        if num_classes is not None and (not isinstance(num_classes, int)
                                        or num_classes < 1):
            raise ValueError(
                f'num_classes must be an int >= 1 or None, got '
                f'{num_classes!r}')
        self.num_classes = num_classes
        self.nan_to_num = nan_to_num

    def class_names(self) -> Tuple[str, ...]:
        """Names from ``dataset_meta['classes']``, else ``'0'``, ``'1'``, ...

        Resolved on use, not in ``__init__``: the Runner sets
        ``dataset_meta`` after building the metric.
        """
        classes = (self.dataset_meta or {}).get('classes')
        if classes is None:
            if self.num_classes is None:
                raise ValueError(
                    f'{type(self).__name__} needs num_classes or '
                    "dataset_meta['classes'] (the Runner copies it from the "
                    "dataset's metainfo); got neither")
            return tuple(str(i) for i in range(self.num_classes))
        if self.num_classes is not None and len(classes) != self.num_classes:
            raise ValueError(
                f'num_classes={self.num_classes} but dataset_meta has '
                f'{len(classes)} classes: {list(classes)}')
        return tuple(str(c) for c in classes)

    def counted_classes(self) -> int:
        return len(self.class_names())

    def score_images(self, confusion: Tensor) -> Tensor:
        """Per image, the mean IoU of the classes in its ground truth or
        prediction (the others are NaN, left out); NaN for an image whose
        pixels are all ignored."""
        return class_scores(confusion).iou.nanmean(-1)

    def compute_metrics(self,
                        results: List[ImageResult]) -> Dict[str, float]:
        """Sum the (all-rank) per-sample matrices, then score the total."""
        names = self.class_names()
        self.collect(results)
        scores = class_scores(self.confusion)
        MMLogger.get_current_instance().info(
            '\n' + format_table(names, scores), extra=CONSOLE)
        metrics = {
            'aAcc': scores.aacc.item(),
            'mIoU': scores.iou.nanmean().item(),
            'mDice': scores.dice.nanmean().item(),
            'mAcc': scores.acc.nanmean().item(),
        }
        metrics.update(
            {f'IoU.{n}': v for n, v in zip(names, scores.iou.tolist())})
        if self.nan_to_num is not None:
            metrics = {k: self.nan_to_num if math.isnan(v) else v
                       for k, v in metrics.items()}
        return metrics


def format_table(names: Sequence[str], scores: ClassScores) -> str:
    """Fixed-width per-class table with a mean row; NaN prints as ``nan``."""
    columns = {'IoU': scores.iou, 'Dice': scores.dice, 'Acc': scores.acc,
               'Precision': scores.precision}
    rows = [[n] + [f'{col[i].item():.4f}' for col in columns.values()]
            for i, n in enumerate(names)]
    rows.append(['mean'] + [f'{col.nanmean().item():.4f}'
                            for col in columns.values()])
    header = ['Class'] + list(columns)
    widths = [max(len(r[j]) for r in [header] + rows)
              for j in range(len(header))]

    def line(cells: List[str]) -> str:
        return '  '.join([cells[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(cells[1:], widths[1:])]).rstrip()

    rule = '  '.join('-' * w for w in widths)
    return '\n'.join([line(header), rule] + [line(r) for r in rows[:-1]]
                     + [rule, line(rows[-1])])
