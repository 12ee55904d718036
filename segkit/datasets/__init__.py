"""Datasets, registered in ``segkit.registry.DATASETS``; importing this also
registers the transforms."""
from .base import BaseSegDataset, read_stems
from .camvid import CamVidDataset, read_class_dict
from .carvana import CarvanaDataset, split_car_ids
from .folder import FolderSegDataset
from .rle import read_rle_csv, rle_decode, rle_encode
from .transforms import *  # noqa: F401,F403  (register the transforms)

__all__ = ['BaseSegDataset', 'CamVidDataset', 'read_class_dict',
           'CarvanaDataset', 'split_car_ids', 'FolderSegDataset',
           'read_stems', 'read_rle_csv', 'rle_decode', 'rle_encode']
