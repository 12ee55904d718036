"""Datasets, registered in ``segkit.registry.DATASETS``; importing this also
registers the transforms."""
from .base import BaseSegDataset
from .camvid import CamVidDataset, read_class_dict
from .transforms import *  # noqa: F401,F403  (register the transforms)

__all__ = ['BaseSegDataset', 'CamVidDataset', 'read_class_dict']
