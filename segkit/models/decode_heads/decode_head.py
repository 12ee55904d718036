"""What every decode head shares: input selection, dropout, the 1×1
classifier and the losses of its logits."""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from segkit.registry import MODELS
from segkit.structures import SegDataSample

INPUT_TRANSFORMS = (None, 'resize_concat', 'multiple_select')
LossConfig = Union[dict, Sequence[dict]]


class BaseDecodeHead(BaseModule):
    """Feature maps to per-class logits, trained by its own losses.

    The segmentor passes ``in_channels`` and ``in_strides`` of *every*
    feature map the backbone (or neck) returns; ``in_index`` picks the ones
    this head reads. A subclass implements :meth:`forward` with
    :meth:`select_inputs` and :meth:`cls_seg`.

    Args:
        in_channels: Channels of each feature map (set by the segmentor).
        in_strides: Stride of each feature map (set by the segmentor).
        channels: Width of the head's own layers.
        num_classes: Output channels; 1 for a binary (sigmoid) head.
        in_index: Which feature map(s) to read: an int, or a sequence with
            ``input_transform``.
        input_transform: ``None`` (one map), ``'resize_concat'`` (resize
            the selected maps to the first one's size and concatenate) or
            ``'multiple_select'`` (a list of maps).
        dropout_ratio: Dropout before the classifier.
        loss_decode: One loss config or a list; each is reported under its
            ``loss_name`` with the head's prefix and summed by MMEngine.
        align_corners: Of the bilinear resizes.
        init_cfg: As ``mmengine.model.BaseModule``.
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 channels: int,
                 num_classes: int,
                 in_strides: Optional[Sequence[int]] = None,
                 in_index: Union[int, Sequence[int]] = -1,
                 input_transform: Optional[str] = None,
                 dropout_ratio: float = 0.1,
                 loss_decode: LossConfig = dict(type='CrossEntropyLoss'),
                 align_corners: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f'{type(self).__name__} num_classes='
                             f'{num_classes!r}: expected an int >= 1')
        if input_transform not in INPUT_TRANSFORMS:
            raise ValueError(f'{type(self).__name__} input_transform='
                             f'{input_transform!r}: expected one of '
                             f'{INPUT_TRANSFORMS}')
        all_channels = ([in_channels] if isinstance(in_channels, int) else
                        list(in_channels))
        all_strides = list(in_strides or [None] * len(all_channels))
        multiple = input_transform is not None
        if multiple != (not isinstance(in_index, int)):
            raise ValueError(
                f'{type(self).__name__} in_index={in_index!r} with '
                f'input_transform={input_transform!r}: expected an int '
                'without input_transform, a sequence with one')
        indices = [in_index] if isinstance(in_index, int) else list(in_index)
        try:
            picked = [(all_channels[i], all_strides[i]) for i in indices]
        except IndexError:
            raise ValueError(
                f'{type(self).__name__} in_index={in_index!r}: the '
                f'backbone returns {len(all_channels)} feature maps') from None
        self.in_index = in_index
        self.input_transform = input_transform
        self.in_channels: Union[int, List[int]] = (
            [c for c, _ in picked] if multiple else picked[0][0])
        self.in_strides = [s for _, s in picked]
        if input_transform == 'resize_concat':
            self.in_channels = sum(self.in_channels)
        self.channels = channels
        self.num_classes = num_classes
        self.align_corners = align_corners
        self.dropout = nn.Dropout2d(dropout_ratio) if dropout_ratio > 0 \
            else None
        self.conv_seg = nn.Conv2d(channels, num_classes, kernel_size=1)
        if isinstance(loss_decode, dict):
            loss_decode = [loss_decode]
        self.losses = nn.ModuleList(MODELS.build(cfg) for cfg in loss_decode)

    def select_inputs(self, inputs: Sequence[Tensor]
                      ) -> Union[Tensor, List[Tensor]]:
        """The feature map(s) this head reads, transformed."""
        if self.input_transform is None:
            return inputs[self.in_index]
        selected = [inputs[i] for i in self.in_index]
        if self.input_transform == 'resize_concat':
            size = selected[0].shape[-2:]
            return torch.cat([resize(x, size, self.align_corners)
                              for x in selected], dim=1)
        return selected

    def cls_seg(self, features: Tensor) -> Tensor:
        """Dropout, then the 1×1 classifier."""
        if self.dropout is not None:
            features = self.dropout(features)
        return self.conv_seg(features)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Logits at the resolution of the head's output."""
        raise NotImplementedError

    def loss(self, inputs: Sequence[Tensor],
             data_samples: List[SegDataSample]) -> Dict[str, Tensor]:
        """Every configured loss of this head's logits, resized to the
        ground truth's size."""
        target = torch.stack(
            [sample.gt_sem_seg.data[0] for sample in data_samples]).long()
        logits = resize(self(inputs), target.shape[-2:], self.align_corners)
        losses: Dict[str, Tensor] = {}
        for loss_fn in self.losses:
            value = loss_fn(logits, target)
            name = loss_fn.loss_name
            losses[name] = losses[name] + value if name in losses else value
        return losses


def resize(x: Tensor, size: Sequence[int], align_corners: bool) -> Tensor:
    """Bilinear resize to ``size``; a no-op at that size already."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode='bilinear',
                         align_corners=align_corners)
