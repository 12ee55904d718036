"""Binary (foreground/background) Dice, as scored by Kaggle's Carvana."""
from typing import Dict, List

from torch import Tensor

from segkit.registry import METRICS
from ..functional import FOREGROUND, class_scores
from .confusion_metric import ConfusionMetric, ImageResult


@METRICS.register_module()
class DiceMetric(ConfusionMetric):
    """Foreground Dice and IoU of binary masks (0 = background, 1 = object).

    Reported keys (fractions in ``[0, 1]``):

    - ``Dice``: mean over images of each image's foreground Dice
      (:meth:`score_images`), the Kaggle Carvana score. An image with empty
      prediction and empty ground truth scores 1, so small or absent objects
      weigh as much as large ones.
    - ``DatasetDice``: Dice of foreground pixels summed over the dataset,
      dominated by large objects.
    - ``IoU``: dataset-level foreground IoU.

    Empty prediction and empty ground truth over the whole dataset score 1
    too. Pixels whose label is ``ignore_index`` are left out. After scoring,
    ``confusion`` holds the dataset's 2x2 confusion matrix (rows: ground
    truth, columns: prediction), ``image_confusion`` those of its images
    (see :class:`ConfusionMetric`).

    Args:
        ignore_index: ground-truth value of pixels left out.
        collect_device, prefix, collect_dir: see ``BaseMetric``. Keys have
            no prefix unless one is given.
    """

    score_rule = ("the image's foreground Dice, as Kaggle's Carvana score "
                  'counts it: 1 when ground truth and prediction are both '
                  'empty')

    def counted_classes(self) -> int:
        return 2

    def score_images(self, confusion: Tensor) -> Tensor:
        """Per image, the foreground Dice; 0/0 (nothing in the ground
        truth, nothing predicted) is 1."""
        return class_scores(confusion).dice[..., FOREGROUND].nan_to_num(
            nan=1.0)

    def compute_metrics(self,
                        results: List[ImageResult]) -> Dict[str, float]:
        """Per-image and dataset-level foreground scores; 0/0 (empty) → 1."""
        image_dice = self.score_images(self.collect(results))
        dataset = class_scores(self.confusion)
        return {
            'Dice': image_dice.mean().item(),
            'DatasetDice': dataset.dice[FOREGROUND].nan_to_num(nan=1.0).item(),
            'IoU': dataset.iou[FOREGROUND].nan_to_num(nan=1.0).item(),
        }
