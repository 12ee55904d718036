"""The U-Net decoder over any backbone: up-sample, concatenate the skip,
two convolutions, at every stride down to the input's (or to
``output_stride``)."""
import math
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segkit.registry import MODELS
from ..backbones.unet_encoder import DoubleConv, kaiming_init
from .decode_head import BaseDecodeHead

UPSAMPLE_MODES = ('nearest', 'deconv', 'bilinear')


class UpBlock(nn.Module):
    """Up-sample ×2, concatenate the skip (if any), DoubleConv.

    ``nearest`` (smp's decoder) keeps the channels and has no weights;
    ``deconv`` (the paper) is a 2×2 stride-2 transposed convolution to
    ``out_channels``; ``bilinear`` is bilinear ×2 then a 1×1 convolution to
    ``out_channels``.
    """

    def __init__(self, in_channels: int, skip_channels: int,
                 out_channels: int, upsample: str):
        super().__init__()
        self.upsample = upsample
        if upsample == 'deconv':
            self.up = nn.ConvTranspose2d(in_channels, out_channels, 2,
                                         stride=2)
        elif upsample == 'bilinear':
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode='bilinear',
                            align_corners=False),
                nn.Conv2d(in_channels, out_channels, 1))
        up_channels = in_channels if upsample == 'nearest' else out_channels
        self.conv = DoubleConv(skip_channels + up_channels, out_channels)

    def forward(self, x: Tensor, skip: Optional[Tensor]) -> Tensor:
        if self.upsample == 'nearest':
            size = (skip.shape[-2:] if skip is not None else
                    [2 * s for s in x.shape[-2:]])
            x = F.interpolate(x, size=size, mode='nearest')
        else:
            x = self.up(x)
            if skip is not None:
                # Where pooling dropped an odd row/column, pad the bottom/
                # right so the map lines up with the skip's top-left.
                x = F.pad(x, (0, skip.shape[-1] - x.shape[-1], 0,
                              skip.shape[-2] - x.shape[-2]))
        return self.conv(x if skip is None else torch.cat([skip, x], dim=1))


@MODELS.register_module()
class UNetHead(BaseDecodeHead):
    """U-Net decoder: from the deepest feature map, one :class:`UpBlock`
    per shallower map (its skip), then blocks without skip until
    ``output_stride``.

    Over :class:`~segkit.models.backbones.UNetEncoder` with
    ``upsample='deconv'`` and the default channels it is the paper's
    decoder; over a ResNet with ``upsample='nearest'`` and
    ``decoder_channels=(256, 128, 64, 32, 16)`` it is smp's ``Unet``.

    Args:
        decoder_channels: Output channels of each block, deep to shallow;
            by default each skip's channels (the paper), and halving below
            the shallowest skip.
        upsample: ``'nearest'``, ``'deconv'`` or ``'bilinear'`` (see
            :class:`UpBlock`).
        output_stride: Stride of the logits, a power of 2 no larger than
            the shallowest skip's: 1 decodes to the input's resolution;
            2 leaves out the costliest block (no skip, at full resolution)
            and the segmentor resizes the logits bilinearly, as it does an
            FPN's.
        **kwargs: See :class:`BaseDecodeHead`; ``in_index`` defaults to all
            feature maps and ``channels`` to the last decoder channels;
            ``dropout_ratio`` defaults to 0.
    """

    def __init__(self,
                 decoder_channels: Optional[Sequence[int]] = None,
                 upsample: str = 'nearest',
                 in_channels: Sequence[int] = (),
                 in_strides: Optional[Sequence[int]] = None,
                 output_stride: int = 1,
                 **kwargs) -> None:
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f'UNetHead upsample={upsample!r}: expected one '
                             f'of {UPSAMPLE_MODES}')
        in_channels = list(in_channels)
        strides = list(in_strides or [2**i for i in range(len(in_channels))])
        skips = in_channels[-2::-1]
        if (output_stride < 1 or output_stride & (output_stride - 1)
                or output_stride > strides[0]):
            raise ValueError(
                f'UNetHead output_stride={output_stride}: expected a power '
                f'of 2 from 1 to the shallowest skip\'s stride {strides[0]}')
        # blocks below the first skip
        extra = int(math.log2(strides[0] // output_stride))
        if decoder_channels is None:
            decoder_channels = skips + [
                max(skips[-1] // 2**(i + 1), 1) for i in range(extra)]
        decoder_channels = list(decoder_channels)
        if len(decoder_channels) != len(skips) + extra:
            raise ValueError(
                f'UNetHead decoder_channels={tuple(decoder_channels)}: '
                f'expected {len(skips) + extra} entries, one per up-step '
                f'from stride {strides[-1]} to {output_stride}')
        kwargs.setdefault('in_index', list(range(len(in_channels))))
        kwargs.setdefault('input_transform', 'multiple_select')
        kwargs.setdefault('dropout_ratio', 0.0)
        super().__init__(in_channels=in_channels, in_strides=strides,
                         channels=decoder_channels[-1], **kwargs)
        block_in = [in_channels[-1]] + decoder_channels[:-1]
        block_skip = skips + [0] * extra
        self.blocks = nn.ModuleList(
            UpBlock(c_in, c_skip, c_out, upsample)
            for c_in, c_skip, c_out in zip(block_in, block_skip,
                                           decoder_channels))
        kaiming_init(self)

    def forward(self, inputs) -> Tensor:
        features: List[Tensor] = self.select_inputs(inputs)
        skips = features[-2::-1] + [None] * (len(self.blocks) -
                                             len(features) + 1)
        x = features[-1]
        for block, skip in zip(self.blocks, skips):
            x = block(x, skip)
        return self.cls_seg(x)
