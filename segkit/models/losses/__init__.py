from .bce import BCEWithLogitsLoss
from .cross_entropy import CrossEntropyLoss
from .dice import DiceLoss
from .lovasz import LovaszLoss

__all__ = ['BCEWithLogitsLoss', 'CrossEntropyLoss', 'DiceLoss', 'LovaszLoss']
