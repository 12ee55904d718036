"""Feature Pyramid Network (Lin et al. 2017) as a neck."""
from typing import List, Optional, Sequence

import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from segkit.registry import MODELS


@MODELS.register_module()
class FPN(BaseModule):
    """Lateral 1×1 convolutions, a top-down pathway of nearest up-sampling
    and sums, and a 3×3 convolution per level.

    Like a backbone it exposes ``out_channels`` and ``strides``, so the head
    after it is built from them.

    Args:
        in_channels: Channels of each input map (set by the segmentor).
        in_strides: Stride of each input map (set by the segmentor).
        out_channels: Channels of every output level.
        init_cfg: As ``mmengine.model.BaseModule``.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int = 256,
                 in_strides: Optional[Sequence[int]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.lateral_convs = nn.ModuleList(
            ConvModule(c, out_channels, 1, act_cfg=None) for c in in_channels)
        self.fpn_convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, padding=1,
                       act_cfg=None) for _ in in_channels)
        self.out_channels = tuple(out_channels for _ in in_channels)
        self.strides = tuple(in_strides or [])

    def forward(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], size=laterals[i - 1].shape[-2:], mode='nearest')
        return [conv(x) for conv, x in zip(self.fpn_convs, laterals)]
