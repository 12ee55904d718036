"""FCN head (Long et al. 2015): a few convolutions then the classifier."""
import torch
from mmcv.cnn import ConvModule
from torch import Tensor, nn

from segkit.registry import MODELS
from .decode_head import BaseDecodeHead


@MODELS.register_module()
class FCNHead(BaseDecodeHead):
    """``num_convs`` 3×3 ConvModules, optionally concatenated with the
    input, then the classifier; the usual auxiliary head on a middle stage.

    Args:
        num_convs: Convolutions before the classifier (0: classify the
            input directly; then ``channels`` must equal ``in_channels``).
        kernel_size: Of each convolution.
        concat_input: Concatenate the input with the convolutions' output
            and fuse them with one more convolution.
        dilation: Of each convolution.
        **kwargs: See :class:`BaseDecodeHead`.
    """

    def __init__(self,
                 num_convs: int = 2,
                 kernel_size: int = 3,
                 concat_input: bool = True,
                 dilation: int = 1,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        padding = kernel_size // 2 * dilation
        norm = dict(type='BN')
        self.convs = nn.Sequential(*[
            ConvModule(self.in_channels if i == 0 else self.channels,
                       self.channels, kernel_size, padding=padding,
                       dilation=dilation, norm_cfg=norm)
            for i in range(num_convs)
        ])
        self.conv_cat = ConvModule(
            self.in_channels + self.channels, self.channels, kernel_size,
            padding=kernel_size // 2, norm_cfg=norm) if concat_input \
            else None

    def forward(self, inputs) -> Tensor:
        x = self.select_inputs(inputs)
        out = self.convs(x)
        if self.conv_cat is not None:
            out = self.conv_cat(torch.cat([x, out], dim=1))
        return self.cls_seg(out)
