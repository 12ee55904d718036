"""Key maps from older or foreign segmentor checkpoints to EncoderDecoder's.

Each map applies when its marker key is present, so a checkpoint already
in EncoderDecoder's layout passes through untouched.
"""
from typing import Dict, List, NamedTuple, Tuple

from torch import Tensor

from ..backbones.pretrained import remap_keys


class LegacyLayout(NamedTuple):
    """A checkpoint layout: a key only it has, and its renames in order."""
    name: str
    marker: str
    key_map: List[Tuple[str, str]]


_TORCHVISION_HEADS = [
    (r'classifier\.0\.', 'decode_head.aspp.'),
    (r'classifier\.1\.', 'decode_head.bottleneck.0.'),
    (r'classifier\.2\.', 'decode_head.bottleneck.1.'),
    (r'classifier\.4\.', 'decode_head.conv_seg.'),
    (r'aux_classifier\.0\.', 'auxiliary_head.0.convs.0.conv.'),
    (r'aux_classifier\.1\.', 'auxiliary_head.0.convs.0.bn.'),
    (r'aux_classifier\.4\.', 'auxiliary_head.0.conv_seg.'),
]

LAYOUTS = (
    # segkit's UNet before the encoder-decoder split (encoder/decoder/head).
    LegacyLayout('segkit UNet', 'encoder.0.0.weight', [
        (r'encoder\.', 'backbone.blocks.'),
        (r'decoder\.', 'decode_head.blocks.'),
        (r'head\.', 'decode_head.conv_seg.'),
    ]),
    # segkit's DeepLabV3, which kept torchvision's model under ``model.``.
    LegacyLayout('segkit DeepLabV3', 'model.classifier.0.convs.0.0.weight',
                 [(r'model\.', '')]),
    # torchvision's deeplabv3_mobilenet_v3_large: backbone = features.
    LegacyLayout('torchvision deeplabv3 (MobileNetV3)',
                 'backbone.0.0.weight',
                 [(r'backbone\.', 'backbone.body.features.')] +
                 _TORCHVISION_HEADS),
    # torchvision's deeplabv3_resnet50/101: backbone = the ResNet's layers.
    LegacyLayout('torchvision deeplabv3 (ResNet)', 'backbone.conv1.weight',
                 [(r'backbone\.', 'backbone.body.')] + _TORCHVISION_HEADS),
)


def adapt_legacy_keys(state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """``state`` renamed by every layout whose marker it holds, in order
    (an old segkit DeepLabV3 becomes torchvision's, then segkit's)."""
    for layout in LAYOUTS:
        if layout.marker in state:
            state = remap_keys(state, layout.key_map)
    return state
