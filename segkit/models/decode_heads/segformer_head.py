"""SegFormer's all-MLP decoder (Xie et al. 2021)."""
import torch
from mmcv.cnn import ConvModule
from torch import Tensor, nn

from segkit.registry import MODELS
from .decode_head import BaseDecodeHead, resize


@MODELS.register_module()
class SegFormerHead(BaseDecodeHead):
    """Each level is projected to ``channels`` by a 1×1 ConvModule (the
    paper's per-pixel MLP), up-sampled to the finest level, concatenated,
    fused by another 1×1 ConvModule, and classified.

    Args:
        **kwargs: See :class:`BaseDecodeHead`; ``in_index`` defaults to
            every level, ``channels`` to 256.
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault('in_index', list(range(len(kwargs['in_channels']))))
        kwargs.setdefault('input_transform', 'multiple_select')
        kwargs.setdefault('channels', 256)
        super().__init__(**kwargs)
        norm = dict(type='BN')
        self.convs = nn.ModuleList(
            ConvModule(c, self.channels, 1, norm_cfg=norm)
            for c in self.in_channels)
        self.fusion = ConvModule(self.channels * len(self.in_channels),
                                 self.channels, 1, norm_cfg=norm)

    def forward(self, inputs) -> Tensor:
        features = self.select_inputs(inputs)
        size = features[0].shape[-2:]
        out = torch.cat([resize(conv(x), size, self.align_corners)
                         for conv, x in zip(self.convs, features)], dim=1)
        return self.cls_seg(self.fusion(out))
