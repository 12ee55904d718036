"""Necks: feature maps to feature maps, between backbone and head."""
from .fpn import FPN

__all__ = ['FPN']
