"""Backbones: images to feature maps with known channels and strides."""
from .base import BaseBackbone
from .full_resolution_stem import FullResolutionStem
from .timm_backbone import TimmBackbone
from .torchvision_backbone import TorchvisionBackbone
from .unet_encoder import UNetEncoder

__all__ = ['BaseBackbone', 'FullResolutionStem', 'TimmBackbone',
           'TorchvisionBackbone', 'UNetEncoder']
