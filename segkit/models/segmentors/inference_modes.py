"""How ``predict`` computes logits: whole image, sliding windows, flip and
multi-scale averaging, and sliding windows one row at a time for huge
images."""
import math
from dataclasses import dataclass, fields
from typing import Callable, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from torch import Tensor

from segkit.engine.optim.precision import PRECISIONS
from segkit.structures import SegDataSample
from segkit.utils import ConfigValueError

# mmcv's RandomFlip directions → the tensor dims they mirror.
FLIP_DIMS = {'horizontal': (-1, ), 'vertical': (-2, ), 'diagonal': (-2, -1)}
INFERENCE_MODES = ('whole', 'slide')


def _size_pair(value: Union[int, Sequence[int]], key: str) -> Tuple[int, int]:
    """``(h, w)`` from an int (a square) or a pair of positive ints."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0
            for v in pair):
        raise ValueError(f'test_cfg {key}={value!r}: expected a positive int '
                         'or a pair (h, w) of positive ints')
    return pair


@dataclass(frozen=True)
class InferenceConfig:
    """How ``predict`` turns a batch into logits: a segmentor's ``test_cfg``.

    Frozen and checked on creation, so a bad ``test_cfg`` fails when the
    model is built; change one with ``dataclasses.replace``. The semantics
    of windows and flips are mmsegmentation's (``docs/architecture.md``).

    Attributes:
        mode: ``'whole'``, one forward pass over the padded batch, or
            ``'slide'``, windows of ``crop_size`` every ``stride`` pixels,
            the last one of each row and column moved inside the input and
            overlapping logits averaged.
        crop_size: Window ``(h, w)`` or one int; ``slide`` needs it.
        stride: Window step ``(h, w)`` or one int, at most ``crop_size``.
        flip: Also predict the horizontal mirror and average the two
            probabilities; ``seg_logits`` then holds their log (logit when
            binary).
        scales: Multi-scale TTA (mmsegmentation's ``--aug-test``): the
            normalised image is resized by each factor (bilinear), padded
            to the size divisor and predicted as ``mode`` says (and
            mirrored with ``flip``); the probabilities, resized back, are
            averaged over every view. ``(1.0,)``: the image as it is.
        window_batch: Windows per forward pass in ``slide`` mode.
        precision: ``'fp32'`` (exact), or autocast: ``'auto'``, ``'bf16'``,
            ``'fp16'``, resolved by
            :func:`~segkit.engine.optim.autocast_dtype`. Logits leave the
            network as float32 either way.
        min_area: Binary models: an image whose predicted foreground has
            fewer pixels than this (at its original size) is predicted
            empty, the Kaggle rule for object-free images, which a stray
            blob would score 0 on per-image Dice. 0 keeps every pixel.
    """
    mode: str = 'whole'
    crop_size: Optional[Tuple[int, int]] = None
    stride: Optional[Tuple[int, int]] = None
    flip: bool = False
    window_batch: int = 4
    precision: str = 'fp32'
    scales: Tuple[float, ...] = (1.0, )
    min_area: int = 0

    def __post_init__(self) -> None:
        if self.mode not in INFERENCE_MODES:
            raise ValueError(f'test_cfg mode={self.mode!r}: expected one of '
                             f'{INFERENCE_MODES}')
        if self.mode == 'slide' and (self.crop_size is None
                                     or self.stride is None):
            raise ValueError(
                f"test_cfg mode='slide' needs crop_size and stride, got "
                f'crop_size={self.crop_size!r}, stride={self.stride!r}')
        for key in ('crop_size', 'stride'):
            if getattr(self, key) is not None:
                # frozen: normalising needs object.__setattr__
                object.__setattr__(self, key,
                                   _size_pair(getattr(self, key), key))
        if self.crop_size and self.stride and any(
                s > c for s, c in zip(self.stride, self.crop_size)):
            raise ValueError(
                f'test_cfg stride={self.stride} exceeds crop_size='
                f'{self.crop_size}: expected stride <= crop_size in h and w, '
                'or windows leave pixels uncovered')
        if not isinstance(self.flip, bool):
            raise ValueError(f'test_cfg flip={self.flip!r}: expected a bool')
        if (not isinstance(self.window_batch, int)
                or isinstance(self.window_batch, bool)
                or self.window_batch < 1):
            raise ValueError(f'test_cfg window_batch={self.window_batch!r}: '
                             'expected an int >= 1')
        if self.precision not in PRECISIONS:
            raise ValueError(f'test_cfg precision={self.precision!r}: '
                             f'expected one of {PRECISIONS}')
        if (not isinstance(self.scales, (list, tuple)) or not self.scales
                or not all(_is_positive_number(s) for s in self.scales)):
            raise ConfigValueError(
                f'test_cfg scales={self.scales!r}: expected a non-empty list '
                'of positive resize factors, e.g. [0.75, 1.0, 1.25]')
        object.__setattr__(self, 'scales',
                           tuple(float(s) for s in self.scales))
        if (not isinstance(self.min_area, int)
                or isinstance(self.min_area, bool) or self.min_area < 0):
            raise ConfigValueError(
                f'test_cfg min_area={self.min_area!r}: expected a number of '
                'pixels, an int >= 0 (0 keeps every prediction)')

    @property
    def single_view(self) -> bool:
        """One forward pass per image (or per window): no flip, no other
        scale."""
        return not self.flip and self.scales == (1.0, )

    @classmethod
    def from_cfg(cls, cfg: Union[None, Mapping, 'InferenceConfig']
                 ) -> 'InferenceConfig':
        """From a config dict (``None``: whole image, no flip)."""
        if isinstance(cfg, cls):
            return cfg
        cfg = dict(cfg or {})
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(cfg) - set(known))
        if unknown:
            raise ValueError(f'test_cfg has unknown keys {unknown}: expected '
                             f'some of {known}')
        return cls(**cfg)


def _is_positive_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and 0 < value < math.inf)


def window_starts(size: int, crop: int, stride: int) -> List[int]:
    """Window offsets along one axis: every ``stride``, the last one moved
    back so that it ends at ``size`` (one window if ``size <= crop``)."""
    if size <= crop:
        return [0]
    count = math.ceil((size - crop) / stride) + 1
    return [min(i * stride, size - crop) for i in range(count)]


def mirror_images(batch: Tensor, shapes: Sequence[Sequence[int]]) -> Tensor:
    """Mirror each image's ``(h, w)`` top-left area left-right, leaving the
    batch padding in place, as if each image had been flipped before being
    padded. Its own inverse."""
    mirrored = batch.clone()
    for i, (h, w) in enumerate(shapes):
        mirrored[i, :, :h, :w] = batch[i, :, :h, :w].flip(-1)
    return mirrored


def rescale_images(batch: Tensor, shapes: Sequence[Sequence[int]],
                   scale: float, divisor: int,
                   pad_value: float) -> Tuple[Tensor, List[Tuple[int, int]]]:
    """Resize each image's ``(h, w)`` top-left area by ``scale`` (bilinear,
    sides rounded as mmcv's ``imrescale``) and pad the batch right and
    bottom with ``pad_value`` to multiples of ``divisor``, as the data
    preprocessor pads.

    Returns:
        The new batch (``batch`` itself at scale 1) and each image's
        ``(h, w)`` in it.
    """
    if scale == 1:
        return batch, [tuple(shape[:2]) for shape in shapes]
    sizes = [(max(1, int(h * scale + 0.5)), max(1, int(w * scale + 0.5)))
             for h, w in (shape[:2] for shape in shapes)]
    height, width = (math.ceil(max(sides) / divisor) * divisor
                     for sides in zip(*sizes))
    scaled = batch.new_full((*batch.shape[:2], height, width), pad_value)
    if batch.is_contiguous(memory_format=torch.channels_last):
        # the preprocessor's layout: faster convolutions
        scaled = scaled.contiguous(memory_format=torch.channels_last)
    for i, (shape, size) in enumerate(zip(shapes, sizes)):
        scaled[i, :, :size[0], :size[1]] = F.interpolate(
            batch[i:i + 1, :, :shape[0], :shape[1]], size=size,
            mode='bilinear', align_corners=False)[0]
    return scaled, sizes


def add_resized(total: Tensor, probs: Tensor,
                shapes: Sequence[Sequence[int]],
                sizes: Sequence[Sequence[int]],
                resize: Callable[[Tensor, Sequence[int]], Tensor]) -> None:
    """Add each image's probabilities (its ``sizes`` top-left area of
    ``probs``), resized by ``resize`` to its ``shapes`` area, into
    ``total`` in place."""
    for i, (shape, size) in enumerate(zip(shapes, sizes)):
        h, w = shape[:2]
        total[i, :, :h, :w] += resize(probs[i:i + 1, :, :size[0], :size[1]],
                                      (h, w))[0]


def slide_logits(forward: Callable[[Tensor], Tensor], inputs: Tensor,
                 cfg: InferenceConfig) -> Tensor:
    """float32 logits of ``inputs`` averaged over ``cfg``'s windows.

    Args:
        forward: The network, images to logits of the same size.
        inputs: The padded batch ``(N, C, H, W)``.
        cfg: Gives ``crop_size``, ``stride`` and ``window_batch``.

    Returns:
        ``(N, num_classes, H, W)`` logits.
    """
    n, _, h, w = inputs.shape
    crop_h, crop_w = (min(c, size) for c, size in zip(cfg.crop_size, (h, w)))
    stride_h, stride_w = cfg.stride
    corners = [(y, x) for y in window_starts(h, crop_h, stride_h)
               for x in window_starts(w, crop_w, stride_w)]
    count = inputs.new_zeros((h, w), dtype=torch.float32)
    for y, x in corners:
        count[y:y + crop_h, x:x + crop_w] += 1
    jobs = [(i, y, x) for i in range(n) for y, x in corners]
    logits: Optional[Tensor] = None
    for start in range(0, len(jobs), cfg.window_batch):
        group = jobs[start:start + cfg.window_batch]
        out = forward(
            torch.cat([inputs[i:i + 1, :, y:y + crop_h, x:x + crop_w]
                       for i, y, x in group]))
        if logits is None:
            logits = out.new_zeros((n, out.shape[1], h, w),
                                   dtype=torch.float32)
        for (i, y, x), window in zip(group, out):
            logits[i, :, y:y + crop_h, x:x + crop_w] += window
    return logits / count


def can_predict_in_bands(cfg: InferenceConfig, sample: SegDataSample) -> bool:
    """Whether :func:`predict_in_bands` gives ``predict``'s classes.

    In slide mode, unless flip or multi-scale TTA sees the whole image
    several times or the pipeline resized it (resizing logits back needs
    all of them at once).
    """
    meta = sample.metainfo
    return (cfg.mode == 'slide' and cfg.single_view
            and not meta.get('flip', False)
            and tuple(meta['img_shape'][:2]) == tuple(meta['ori_shape'][:2]))


def predict_in_bands(model, image: Tensor,
                     sample: SegDataSample) -> SegDataSample:
    """Slide mode's ``pred_sem_seg`` of one image, one row of windows at a
    time, in memory bounded by the image width rather than its area.

    Each band (``crop_size[0]`` rows, full width) is preprocessed as the
    whole image would be and its windows averaged by ``window_logits``;
    overlapping bands are averaged row by row, and rows no later band
    reaches become classes at once. ``docs/architecture.md`` has the
    memory figures.

    Args:
        model: A :class:`~segkit.models.BaseSegmentor` in slide mode.
        image: The uint8 ``(C, H, W)`` image from the test pipeline.
        sample: Its data sample; gets ``pred_sem_seg`` and pad shapes.

    Returns:
        ``sample``.
    """
    preprocess = model.data_preprocessor
    height, width = image.shape[-2:]
    divisor = preprocess.pad_size_divisor
    padded_height = math.ceil(height / divisor) * divisor
    crop = min(model.test_cfg.crop_size[0], padded_height)
    pred = acc = covered = None
    done = 0  # rows [0, done) are in pred, acc sums rows [done, done + crop)
    for top in window_starts(padded_height, crop, model.test_cfg.stride[0]):
        band = preprocess(dict(inputs=[image[:, top:top + crop]],
                               data_samples=None))['inputs'][..., :crop, :]
        band = F.pad(band, (0, 0, 0, crop - band.shape[-2]),
                     value=preprocess.pad_value)
        logits = model.window_logits(band)[0]
        cover = logits.new_ones((crop, 1))  # bands covering each row
        if acc is None:
            pred = torch.empty((1, height, width), dtype=torch.long,
                               device=logits.device)
        else:
            final = top - done
            _classify(model, acc[:, :final] / covered[:final], pred, done)
            logits[:, :crop - final] += acc[:, final:]
            cover[:crop - final] += covered[final:]
        acc, covered, done = logits, cover, top
    _classify(model, acc / covered, pred, done)
    model.clear_small_foreground(pred)
    padded_shape = (padded_height, band.shape[-1])
    sample.set_metainfo(dict(batch_input_shape=padded_shape,
                             pad_shape=padded_shape))
    sample.pred_sem_seg = PixelData(data=pred)
    return sample


def _classify(model, logits: Tensor, pred: Tensor, top: int) -> None:
    """Classes of ``logits`` (rows from ``top`` of the padded image) into
    ``pred``, leaving out padding rows and columns."""
    rows = max(0, min(logits.shape[1], pred.shape[1] - top))
    if rows:
        pred[:, top:top + rows] = model.logits_to_classes(
            logits[:, :rows, :pred.shape[2]])
