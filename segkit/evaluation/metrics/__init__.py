from .confusion_metric import ConfusionMetric
from .dice_metric import DiceMetric
from .iou_metric import IoUMetric
from .rle_submission import RLESubmission

__all__ = ['ConfusionMetric', 'DiceMetric', 'IoUMetric', 'RLESubmission']
