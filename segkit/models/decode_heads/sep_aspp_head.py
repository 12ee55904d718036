"""DeepLabV3+'s head (Chen et al. 2018): depthwise-separable ASPP and a
low-level skip."""
from typing import Sequence

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from torch import Tensor, nn

from segkit.registry import MODELS
from .decode_head import BaseDecodeHead, resize


@MODELS.register_module()
class DepthwiseSeparableASPPHead(BaseDecodeHead):
    """ASPP with depthwise-separable atrous branches on the deepest map;
    its output is up-sampled to the low-level map (stride 4), concatenated
    with a 1×1 projection of it, and refined by two separable 3×3
    convolutions before the classifier (mmsegmentation's layout).

    Args:
        dilations: Rates of the 1×1 branch (1) and the atrous branches.
        low_level_stride: Stride of the skip map, found among the
            backbone's maps.
        low_level_channels: Channels the skip is projected to.
        **kwargs: See :class:`BaseDecodeHead`; ``channels`` defaults to 256.
    """

    def __init__(self,
                 dilations: Sequence[int] = (1, 12, 24, 36),
                 low_level_stride: int = 4,
                 low_level_channels: int = 48,
                 in_channels: Sequence[int] = (),
                 in_strides: Sequence[int] = (),
                 **kwargs) -> None:
        kwargs.setdefault('channels', 256)
        if low_level_stride not in in_strides:
            raise ValueError(
                f'DepthwiseSeparableASPPHead low_level_stride='
                f'{low_level_stride}: the backbone returns strides '
                f'{tuple(in_strides)}')
        self.low_level_index = list(in_strides).index(low_level_stride)
        low_in = in_channels[self.low_level_index]
        super().__init__(in_channels=in_channels, in_strides=in_strides,
                         **kwargs)
        norm = dict(type='BN')
        self.image_pool = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            ConvModule(self.in_channels, self.channels, 1, norm_cfg=norm))
        self.aspp = nn.ModuleList(
            ConvModule(self.in_channels, self.channels, 1, norm_cfg=norm)
            if rate == 1 else DepthwiseSeparableConvModule(
                self.in_channels, self.channels, 3, padding=rate,
                dilation=rate, norm_cfg=norm) for rate in dilations)
        self.bottleneck = ConvModule((len(dilations) + 1) * self.channels,
                                     self.channels, 3, padding=1,
                                     norm_cfg=norm)
        self.low_level = ConvModule(low_in, low_level_channels, 1,
                                    norm_cfg=norm)
        self.fuse = nn.Sequential(
            DepthwiseSeparableConvModule(self.channels + low_level_channels,
                                         self.channels, 3, padding=1,
                                         norm_cfg=norm),
            DepthwiseSeparableConvModule(self.channels, self.channels, 3,
                                         padding=1, norm_cfg=norm))

    def forward(self, inputs) -> Tensor:
        x = self.select_inputs(inputs)
        pooled = F.interpolate(self.image_pool(x), size=x.shape[-2:],
                               mode='bilinear',
                               align_corners=self.align_corners)
        out = self.bottleneck(torch.cat(
            [pooled] + [branch(x) for branch in self.aspp], dim=1))
        skip = self.low_level(inputs[self.low_level_index])
        out = resize(out, skip.shape[-2:], self.align_corners)
        return self.cls_seg(self.fuse(torch.cat([out, skip], dim=1)))
