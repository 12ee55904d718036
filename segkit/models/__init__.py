from .data_preprocessor import SegDataPreProcessor
from .losses import *  # noqa: F401,F403
from .segmentors import *  # noqa: F401,F403

__all__ = ['SegDataPreProcessor']
