from .dice_metric import DiceMetric
from .iou_metric import IoUMetric

__all__ = ['DiceMetric', 'IoUMetric']
