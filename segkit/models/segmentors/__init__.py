from .base import BaseSegmentor
from .unet import UNet

__all__ = ['BaseSegmentor', 'UNet']
