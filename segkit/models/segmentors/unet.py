"""U-Net (Ronneberger et al., 2015) as a segkit segmentor."""
from typing import List

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segkit.registry import MODELS
from .base import BaseSegmentor

UPSAMPLE_MODES = ('deconv', 'bilinear')


class DoubleConv(nn.Sequential):
    """(3×3 conv → BatchNorm → ReLU) × 2; BN makes a conv bias redundant."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class UpBlock(nn.Module):
    """Up-sample ×2 to half the channels, concat the skip, DoubleConv."""

    def __init__(self, in_channels: int, out_channels: int, upsample: str):
        super().__init__()
        if upsample == 'deconv':
            self.up = nn.ConvTranspose2d(in_channels, out_channels, 2,
                                         stride=2)
        else:
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode='bilinear',
                            align_corners=False),
                nn.Conv2d(in_channels, out_channels, 1))
        self.conv = DoubleConv(2 * out_channels, out_channels)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = self.up(x)
        # Floor-mode pooling dropped the skip's last odd row/column; the
        # up-sampled map is aligned with the skip's top-left corner, so the
        # missing row/column is padded at the bottom/right.
        pad_h = skip.shape[-2] - x.shape[-2]
        pad_w = skip.shape[-1] - x.shape[-1]
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        return self.conv(torch.cat([skip, x], dim=1))


@MODELS.register_module()
class UNet(BaseSegmentor):
    """U-Net: a contracting path, a symmetric expanding path, skip links.

    Follows Ronneberger et al. 2015 with two changes every practical
    implementation makes: 3×3 convs use ``padding=1`` so each block keeps its
    size (the paper's unpadded convs shrink the output and need overlap-tile
    inference), and each conv is followed by BatchNorm (the paper predates
    it). The paper's net is ``base_channels=64, depth=4,
    upsample='deconv'``: 31.0 M parameters for 3 input channels, 2 classes.

    Any input size of at least ``2**depth`` works: where pooling dropped an
    odd row or column, the up-sampled map is zero-padded at the bottom/right
    to the skip's size, and the logits come out at exactly the input size.

    Args:
        num_classes: output channels; 1 for binary (sigmoid) segmentation.
        in_channels: image channels.
        base_channels: channels of the first block; doubled per down-step.
        depth: number of 2×2 max-pool down-steps (and of up-steps).
        upsample: ``'deconv'`` — 2×2 stride-2 transposed conv, as in the
            paper; ``'bilinear'`` — bilinear ×2 then a 1×1 conv halving the
            channels. Both keep the paper's channel plan, so they differ only
            in the up-sampling op (bilinear has ~4× fewer up-sampling
            weights and no checkerboard artefacts).
        **kwargs: ``loss_decode``, ``threshold``, ``align_corners``,
            ``test_cfg``, ``data_preprocessor``, ``init_cfg``: see
            :class:`BaseSegmentor`.

    Convolutions start from Kaiming-normal weights (fan-in, ReLU gain), the
    paper's ``std = sqrt(2 / N)``, and zero biases; ``init_cfg`` (e.g.
    ``Pretrained``) is applied on top by ``init_weights``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int = 3,
                 base_channels: int = 64,
                 depth: int = 4,
                 upsample: str = 'deconv',
                 **kwargs):
        super().__init__(num_classes=num_classes, **kwargs)
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(
                f'upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}')
        for name, value in (('in_channels', in_channels),
                            ('base_channels', base_channels),
                            ('depth', depth)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be an int >= 1, got {value!r}')
        self.depth = depth
        channels = [base_channels * 2**i for i in range(depth + 1)]
        self.encoder = nn.ModuleList(
            DoubleConv(c_in, c_out)
            for c_in, c_out in zip([in_channels] + channels[:-1], channels))
        self.decoder = nn.ModuleList(
            UpBlock(channels[i + 1], channels[i], upsample)
            for i in reversed(range(depth)))
        self.head = nn.Conv2d(base_channels, num_classes, 1)
        self._init_conv_weights()

    def _init_conv_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward_logits(self, inputs: Tensor) -> Tensor:
        """Logits ``(N, num_classes, H, W)`` for images ``(N, C, H, W)``."""
        if min(inputs.shape[-2:]) < 2**self.depth:
            raise ValueError(
                f'UNet with depth={self.depth} needs inputs of at least '
                f'{2**self.depth}×{2**self.depth}, got '
                f'{tuple(inputs.shape[-2:])}')
        skips: List[Tensor] = []
        x = inputs
        for i, block in enumerate(self.encoder):
            x = block(F.max_pool2d(x, 2) if i else x)
            skips.append(x)
        x = skips.pop()
        for block in self.decoder:
            x = block(x, skips.pop())
        return self.head(x)
