"""Batch assembly on the model's device: the last step before the network."""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import ImgDataPreprocessor
from mmengine.structures import PixelData

from segkit.registry import MODELS
from segkit.structures import PREFETCHED_KEY

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@MODELS.register_module()
class SegDataPreProcessor(ImgDataPreprocessor):
    """Move to device, BGR→RGB, normalise, pad to a size divisor, stack.

    Images arrive as uint8 ``(3, H, W)`` tensors in BGR order (as cv2 reads
    them) and leave as one float ``(N, 3, H', W')`` batch. MMEngine's
    :class:`ImgDataPreprocessor` does the image part; this class adds what
    segmentation needs on top: in training the ground-truth masks are padded
    to the batch size with ``seg_pad_val`` (= ``ignore_index``, so padding is
    never learnt), and every sample learns the shape of the batch it was in.

    Args:
        mean, std: per-channel statistics in the *output* channel order
            (RGB when ``bgr_to_rgb``). ImageNet's by default.
        bgr_to_rgb: convert cv2's BGR images to RGB.
        size_divisor: pad H and W up to a multiple of this (e.g. ``2**depth``
            for a U-Net); 1 disables padding beyond the largest image.
        pad_val: value of padded image pixels, after normalisation.
        seg_pad_val: value of padded mask pixels.
        channels_last: return the batch in ``torch.channels_last`` memory
            format, which is faster for convolutions on CPU and GPU.
        non_blocking: copy to the device without blocking (from pinned
            memory the copy then overlaps the host's work).

    A batch that already holds its preprocessed form under
    :data:`~segkit.structures.PREFETCHED_KEY` (``DevicePrefetchHook``
    made it on a side stream) is returned as that.
    """

    def __init__(self,
                 mean: Optional[Sequence[float]] = IMAGENET_MEAN,
                 std: Optional[Sequence[float]] = IMAGENET_STD,
                 bgr_to_rgb: bool = True,
                 size_divisor: int = 1,
                 pad_val: float = 0,
                 seg_pad_val: int = 255,
                 channels_last: bool = False,
                 non_blocking: bool = False):
        super().__init__(mean=mean, std=std, pad_size_divisor=size_divisor,
                         pad_value=pad_val, bgr_to_rgb=bgr_to_rgb,
                         non_blocking=non_blocking)
        self.seg_pad_val = seg_pad_val
        self.channels_last = channels_last

    def forward(self, data: dict, training: bool = False) -> dict:
        if data.get(PREFETCHED_KEY) is not None:  # DevicePrefetchHook's
            return data[PREFETCHED_KEY]
        data = super().forward(data, training)
        inputs = data['inputs']
        batch_shape = tuple(inputs.shape[-2:])
        for sample in data['data_samples'] or ():
            sample.set_metainfo(dict(batch_input_shape=batch_shape,
                                     pad_shape=batch_shape))
            if training and 'gt_sem_seg' in sample:
                sample.gt_sem_seg = PixelData(
                    data=self._pad_to(sample.gt_sem_seg.data, batch_shape))
        if self.channels_last:
            data['inputs'] = inputs.contiguous(
                memory_format=torch.channels_last)
        return data

    def _pad_to(self, seg: torch.Tensor, shape: tuple) -> torch.Tensor:
        pad_h, pad_w = shape[0] - seg.shape[-2], shape[1] - seg.shape[-1]
        if pad_h == pad_w == 0:
            return seg
        return F.pad(seg, (0, pad_w, 0, pad_h), value=self.seg_pad_val)
