"""The semantic segmentation branch of Panoptic FPN (Kirillov et al. 2019)."""
import math

from mmcv.cnn import ConvModule
from torch import Tensor, nn

from segkit.registry import MODELS
from .decode_head import BaseDecodeHead, resize


@MODELS.register_module()
class FPNHead(BaseDecodeHead):
    """Each FPN level goes through 3×3 ConvModules with ×2 up-sampling
    until it reaches the finest level's stride; the levels are summed and
    classified there (stride 4 over a ResNet FPN).

    Args:
        **kwargs: See :class:`BaseDecodeHead`; ``in_index`` defaults to
            every level, ``channels`` to 128.
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault('in_index', list(range(len(kwargs['in_channels']))))
        kwargs.setdefault('input_transform', 'multiple_select')
        kwargs.setdefault('channels', 128)
        super().__init__(**kwargs)
        finest = self.in_strides[0]
        self.scale_heads = nn.ModuleList()
        for channels, stride in zip(self.in_channels, self.in_strides):
            steps = max(1, int(math.log2(stride // finest)))
            layers = []
            for k in range(steps):
                layers.append(ConvModule(channels if k == 0 else
                                         self.channels, self.channels, 3,
                                         padding=1, norm_cfg=dict(type='BN')))
                if stride != finest:
                    layers.append(nn.Upsample(
                        scale_factor=2, mode='bilinear',
                        align_corners=self.align_corners))
            self.scale_heads.append(nn.Sequential(*layers))

    def forward(self, inputs) -> Tensor:
        features = self.select_inputs(inputs)
        out = self.scale_heads[0](features[0])
        for head, x in zip(self.scale_heads[1:], features[1:]):
            out = out + resize(head(x), out.shape[-2:], self.align_corners)
        return self.cls_seg(out)
