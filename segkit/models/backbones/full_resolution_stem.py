"""Any backbone plus a feature at the input's full resolution."""
from typing import List, Optional

from torch import Tensor, nn

from segkit.registry import MODELS
from .base import BaseBackbone
from .unet_encoder import DoubleConv


@MODELS.register_module()
class FullResolutionStem(BaseBackbone):
    """A backbone whose features are preceded by one at stride 1: a
    :class:`~segkit.models.backbones.unet_encoder.DoubleConv` on the image.

    ImageNet backbones start with a stride-2 stem (ResNet's 7×7 convolution
    then a max-pool to stride 4), so a U-Net decoder over them has no skip at
    the input's resolution and draws its last up-steps from coarse features
    alone: structures one or two pixels wide (poles, the edges of small
    cars) are lost. This stride-1 feature gives
    :class:`~segkit.models.decode_heads.UNetHead` a skip at every stride,
    as the paper U-Net's first level and fastai's ``DynamicUnet``
    (``last_cross``) do. Measured in
    ``docs/experiments/2026-11-26-full-resolution-skip.md``.

    Args:
        backbone: The wrapped backbone's config; it keeps its own
            ``frozen_stages``, ``norm_eval`` and ``init_cfg`` (pretrained
            files load into it as they would alone).
        channels: Channels of the stride-1 feature.
        in_channels: Image channels, given to the wrapped backbone too.
        norm_eval, init_cfg: See :class:`BaseBackbone`.
    """

    def __init__(self,
                 backbone: dict,
                 channels: int = 16,
                 in_channels: int = 3,
                 norm_eval: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(norm_eval=norm_eval, init_cfg=init_cfg)
        if channels < 1:
            raise ValueError(f'FullResolutionStem channels={channels}: '
                             'expected at least 1')
        self.backbone = MODELS.build(dict(backbone, in_channels=in_channels))
        self.stem = DoubleConv(in_channels, channels)
        self.out_channels = (channels, ) + tuple(self.backbone.out_channels)
        self.strides = (1, ) + tuple(self.backbone.strides)

    def stages(self) -> List[nn.Module]:
        return [self.stem] + self.backbone.stages()

    def forward(self, inputs: Tensor) -> List[Tensor]:
        return [self.stem(inputs)] + self.backbone(inputs)
