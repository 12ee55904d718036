from .bce import BCEWithLogitsLoss
from .cross_entropy import CrossEntropyLoss
from .dice import DiceLoss

__all__ = ['BCEWithLogitsLoss', 'CrossEntropyLoss', 'DiceLoss']
