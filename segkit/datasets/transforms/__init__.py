"""Data transforms, registered in ``segkit.registry.TRANSFORMS``.

mmcv's ``Resize``, ``RandomResize`` and ``RandomFlip`` are used as they are;
``Albu`` runs an albumentations pipeline (optional package).
"""
from .albu import Albu
from .caching import CachedLoading
from .formatting import PackSegInputs
from .geometric import RandomCrop
from .label_maps import apply_label_map, check_label_map, palette_to_classes
from .loading import LoadImageFromFile, LoadImageFromNDArray, LoadSegMap
from .photometric import PhotoMetricDistortion

__all__ = [
    'Albu', 'CachedLoading', 'PackSegInputs', 'RandomCrop',
    'LoadImageFromFile', 'LoadImageFromNDArray', 'LoadSegMap',
    'apply_label_map', 'check_label_map', 'palette_to_classes',
    'PhotoMetricDistortion'
]
