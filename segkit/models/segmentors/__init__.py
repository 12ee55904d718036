from .base import BaseSegmentor
from .deeplabv3 import DeepLabV3
from .unet import UNet

__all__ = ['BaseSegmentor', 'DeepLabV3', 'UNet']
