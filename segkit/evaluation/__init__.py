"""Metrics; importing this registers them in ``segkit.registry.METRICS``."""
from .functional import ClassScores, class_scores, confusion_matrix, seg_maps
from .metrics import DiceMetric, IoUMetric

__all__ = ['ClassScores', 'DiceMetric', 'IoUMetric', 'class_scores',
           'confusion_matrix', 'seg_maps']
