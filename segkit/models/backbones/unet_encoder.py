"""The contracting path of the paper U-Net as a backbone."""
from typing import List, Optional

import torch.nn.functional as F
from torch import Tensor, nn

from segkit.registry import MODELS
from .base import BaseBackbone


class DoubleConv(nn.Sequential):
    """(3×3 conv → BatchNorm → ReLU) × 2; BN makes a conv bias redundant."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def kaiming_init(module: nn.Module) -> None:
    """The U-Net paper's ``std = sqrt(2 / fan_in)`` for every (transposed)
    convolution, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
            if m.bias is not None:
                nn.init.zeros_(m.bias)


@MODELS.register_module()
class UNetEncoder(BaseBackbone):
    """Ronneberger et al. 2015's encoder: a DoubleConv, then ``depth`` times
    2×2 max-pool and a DoubleConv with twice the channels.

    Convolutions are padded (each block keeps its size) and batch-normed,
    as every practical U-Net does. Features come at strides
    ``1, 2, ..., 2**depth`` with ``base_channels * 2**i`` channels; with
    :class:`~segkit.models.decode_heads.UNetHead` (``upsample='deconv'``)
    it is the paper's network (31.0 M parameters at ``base_channels=64``).

    Args:
        in_channels: Image channels.
        base_channels: Channels of the first block.
        depth: Number of down-steps.
        frozen_stages, norm_eval, init_cfg: See :class:`BaseBackbone`.
    """

    def __init__(self,
                 in_channels: int = 3,
                 base_channels: int = 64,
                 depth: int = 4,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(frozen_stages, norm_eval, init_cfg)
        for name, value in (('in_channels', in_channels),
                            ('base_channels', base_channels),
                            ('depth', depth)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'UNetEncoder {name}={value!r}: expected an '
                                 'int >= 1')
        channels = [base_channels * 2**i for i in range(depth + 1)]
        self.blocks = nn.ModuleList(
            DoubleConv(c_in, c_out)
            for c_in, c_out in zip([in_channels] + channels[:-1], channels))
        self.out_channels = tuple(channels)
        self.strides = tuple(2**i for i in range(depth + 1))
        kaiming_init(self)

    def stages(self) -> List[nn.Module]:
        return list(self.blocks)

    def forward(self, inputs: Tensor) -> List[Tensor]:
        outs = []
        x = inputs
        for i, block in enumerate(self.blocks):
            x = block(F.max_pool2d(x, 2) if i else x)
            outs.append(x)
        return outs

    def pretrained_key_map(self):
        return (), (), 'blocks.0.0.weight'
