"""Metrics; importing this registers them in ``segkit.registry.METRICS``."""
from .functional import ClassScores, class_scores, confusion_matrix, seg_maps
from .metrics import ConfusionMetric, DiceMetric, IoUMetric

__all__ = ['ClassScores', 'ConfusionMetric', 'DiceMetric', 'IoUMetric',
           'class_scores', 'confusion_matrix', 'seg_maps']
