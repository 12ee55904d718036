"""DeepLabV3's head (Chen et al. 2017): atrous spatial pyramid pooling."""
from typing import Sequence

from torch import Tensor, nn

from segkit.registry import MODELS
from .decode_head import BaseDecodeHead


@MODELS.register_module()
class ASPPHead(BaseDecodeHead):
    """torchvision's ASPP (a 1×1 branch, three atrous 3×3 branches and
    image pooling, projected to ``channels``), a 3×3 convolution, then the
    classifier: torchvision's ``DeepLabHead``, so its weights load.

    Training needs at least 2 images per batch (per device with plain BN):
    the image-pooling branch normalises a 1×1 map.

    Args:
        dilations: Atrous rates: (12, 24, 36) at output stride 8, (6, 12,
            18) at 16.
        **kwargs: See :class:`BaseDecodeHead`; ``channels`` defaults to
            256 and ``dropout_ratio`` to 0 (ASPP has its own dropout).
    """

    def __init__(self, dilations: Sequence[int] = (12, 24, 36),
                 **kwargs) -> None:
        kwargs.setdefault('channels', 256)
        kwargs.setdefault('dropout_ratio', 0.0)
        super().__init__(**kwargs)
        # imported here: torchvision takes most of a second to import
        from torchvision.models.segmentation.deeplabv3 import ASPP
        self.aspp = ASPP(self.in_channels, list(dilations), self.channels)
        self.bottleneck = nn.Sequential(
            nn.Conv2d(self.channels, self.channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(self.channels), nn.ReLU(inplace=True))

    def forward(self, inputs) -> Tensor:
        x = self.select_inputs(inputs)
        return self.cls_seg(self.bottleneck(self.aspp(x)))
