"""Decode heads: feature maps to logits, each with its own losses."""
from .aspp_head import ASPPHead
from .decode_head import BaseDecodeHead
from .fcn_head import FCNHead
from .fpn_head import FPNHead
from .segformer_head import SegFormerHead
from .sep_aspp_head import DepthwiseSeparableASPPHead
from .unet_head import UNetHead

__all__ = ['ASPPHead', 'BaseDecodeHead', 'DepthwiseSeparableASPPHead',
           'FCNHead', 'FPNHead', 'SegFormerHead', 'UNetHead']
