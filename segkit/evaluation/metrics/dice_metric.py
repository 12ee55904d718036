"""Binary (foreground/background) Dice, as scored by Kaggle's Carvana."""
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from torch import Tensor

from segkit.registry import METRICS
from ..functional import class_scores, confusion_matrix, seg_maps

FOREGROUND = 1


@METRICS.register_module()
class DiceMetric(BaseMetric):
    """Foreground Dice and IoU of binary masks (0 = background, 1 = object).

    Reported keys (fractions in ``[0, 1]``):

    - ``Dice``: mean over images of each image's foreground Dice, the Kaggle
      Carvana score. An image with empty prediction and empty ground truth
      scores 1, so small or absent objects weigh as much as large ones.
    - ``DatasetDice``: Dice of foreground pixels summed over the dataset,
      dominated by large objects.
    - ``IoU``: dataset-level foreground IoU.

    Empty prediction and empty ground truth over the whole dataset score 1
    too. Pixels whose label is ``ignore_index`` are left out. After scoring,
    ``confusion`` holds the dataset's 2x2 confusion matrix (rows: ground
    truth, columns: prediction).

    Args:
        ignore_index: ground-truth value of pixels left out.
        collect_device, prefix, collect_dir: see ``BaseMetric``. Keys have
            no prefix unless one is given.
    """

    default_prefix = ''  # not None: no "prefix not set" warning, no prefix

    def __init__(self,
                 ignore_index: int = 255,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix,
                         collect_dir=collect_dir)
        self.ignore_index = ignore_index
        self.confusion: Optional[Tensor] = None

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store one CPU 2x2 confusion matrix per sample (see IoUMetric)."""
        for sample in data_samples:
            pred, label = seg_maps(sample)
            self.results.append(
                confusion_matrix(pred, label, 2, self.ignore_index).cpu())

    def compute_metrics(self, results: List[Tensor]) -> Dict[str, float]:
        """Per-image and dataset-level foreground scores; 0/0 (empty) → 1."""
        if not results:
            raise ValueError(f'{type(self).__name__}: no samples processed')
        per_image = torch.stack(results)
        image_dice = class_scores(per_image).dice[:, FOREGROUND]
        self.confusion = per_image.sum(0)
        dataset = class_scores(self.confusion)
        return {
            'Dice': image_dice.nan_to_num(nan=1.0).mean().item(),
            'DatasetDice': dataset.dice[FOREGROUND].nan_to_num(nan=1.0).item(),
            'IoU': dataset.iou[FOREGROUND].nan_to_num(nan=1.0).item(),
        }
