"""What every segmentor shares: the three forward modes around one network,
and the inference modes (whole image, sliding window, flip TTA) of predict."""
import math
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass, fields
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from torch import Tensor, nn

from segkit.engine.optim.precision import PRECISIONS, autocast_dtype
from segkit.registry import MODELS
from segkit.structures import SegDataSample

LossConfig = Union[dict, Sequence[dict]]
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
    model is built, not after the first test batch; change one with
    ``model.test_cfg = dataclasses.replace(model.test_cfg, flip=True)``.

    Attributes:
        mode: ``'whole'``: one forward pass over the (padded) batch.
            ``'slide'``: windows of ``crop_size`` every ``stride`` pixels;
            as in mmsegmentation, the last window of each row/column is
            moved inside the input and overlapping logits are averaged, so
            every pixel is covered, and along a side shorter than the crop
            the window is clipped to the input. The networks are fully
            convolutional, so a window covering the whole input gives
            exactly the ``whole`` result (padding it to the crop would
            change the logits near its border). The network's memory is
            bounded by ``window_batch`` windows, whatever the image size.
        crop_size, stride: ``(h, w)`` or one int; ``slide`` needs both, with
            ``stride <= crop_size`` (a larger stride would leave gaps).
        flip: also predict the horizontally mirrored image and average the
            two *probabilities* (softmax; sigmoid for ``num_classes=1``), as
            mmsegmentation's TTA does: each view's vote is bounded, so one
            over-confident view (huge logits) cannot outvote the other, and
            the binary ``threshold`` keeps its meaning. ``seg_logits`` then
            holds the log of the averaged probabilities (their logit when
            binary), so argmax and ``threshold`` work on it unchanged.
        window_batch: windows per forward pass in ``slide`` mode.
        precision: ``'fp32'`` (exact, the default), or autocast where the
            device computes faster in half precision: ``'auto'``, ``'bf16'``,
            ``'fp16'`` as :func:`~segkit.engine.optim.autocast_dtype`
            resolves them (on the reference CPU bf16 is ~1.9× fp32). Logits
            leave the network as float32 either way.
    """
    mode: str = 'whole'
    crop_size: Optional[Tuple[int, int]] = None
    stride: Optional[Tuple[int, int]] = None
    flip: bool = False
    window_batch: int = 4
    precision: str = 'fp32'

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


class BaseSegmentor(BaseModel, metaclass=ABCMeta):
    """Loss, predict and tensor modes for a network that maps images to logits.

    A subclass only implements :meth:`forward_logits`; the handling of ground
    truth, losses, padding, flips and resizing back to the original image is
    the same for every architecture and lives here.

    Args:
        num_classes: 1 for a single sigmoid output (binary segmentation,
            thresholded at ``threshold``), 2 or more for softmax.
        loss_decode: one loss config or a list of them; their values are
            reported under each loss's ``loss_name`` and summed by MMEngine.
        threshold: foreground probability threshold when ``num_classes=1``.
        align_corners: passed to the bilinear resize of logits.
        test_cfg: how ``predict`` computes logits, see
            :class:`InferenceConfig`, e.g. ``dict(mode='slide',
            crop_size=(360, 480), stride=(240, 320), flip=True)``; whole
            image without flip by default. ``tensor`` mode always returns
            the network's plain logits.
    """

    def __init__(self,
                 num_classes: int,
                 loss_decode: LossConfig = dict(type='CrossEntropyLoss'),
                 threshold: float = 0.5,
                 align_corners: bool = False,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None,
                 test_cfg: Union[None, dict, InferenceConfig] = None):
        if isinstance(data_preprocessor, dict):
            # BaseModel would build it from MMEngine's root registry, which
            # finds segkit's SegDataPreProcessor only under
            # default_scope='segkit' (a Runner), not in init_model or tests.
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                f'num_classes must be an int >= 1, got {num_classes!r}')
        self.num_classes = num_classes
        self.threshold = threshold
        self.align_corners = align_corners
        self.test_cfg = InferenceConfig.from_cfg(test_cfg)
        if isinstance(loss_decode, dict):
            loss_decode = [loss_decode]
        self.losses = nn.ModuleList(MODELS.build(cfg) for cfg in loss_decode)

    @abstractmethod
    def forward_logits(self, inputs: Tensor) -> Tensor:
        """Logits ``(N, num_classes, H, W)`` at the size of ``inputs``."""

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List[SegDataSample]] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.forward_logits(inputs)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', "
                         f'got {mode!r}')

    def loss(self, inputs: Tensor,
             data_samples: List[SegDataSample]) -> Dict[str, Tensor]:
        return self.compute_losses(self.forward_logits(inputs), data_samples)

    def compute_losses(self, logits: Tensor,
                       data_samples: List[SegDataSample],
                       prefix: str = '') -> Dict[str, Tensor]:
        """Every configured loss of ``logits`` against the samples' masks."""
        target = torch.stack(
            [sample.gt_sem_seg.data[0] for sample in data_samples]).long()
        if logits.shape[-2:] != target.shape[-2:]:
            logits = self.resize(logits, target.shape[-2:])
        losses: Dict[str, Tensor] = {}
        for loss_fn in self.losses:
            name = prefix + loss_fn.loss_name
            value = loss_fn(logits, target)
            losses[name] = losses[name] + value if name in losses else value
        return losses

    def predict(self, inputs: Tensor,
                data_samples: Optional[List[SegDataSample]] = None
                ) -> List[SegDataSample]:
        if data_samples is None:
            data_samples = [
                SegDataSample(metainfo=dict(img_shape=tuple(inputs.shape[-2:]),
                                            ori_shape=tuple(inputs.shape[-2:])))
                for _ in range(inputs.shape[0])
            ]
        return self.postprocess(self.inference(inputs, data_samples),
                                data_samples)

    def inference(self, inputs: Tensor,
                  data_samples: List[SegDataSample]) -> Tensor:
        """Logits of the padded batch as ``test_cfg`` asks: whole or
        sliding window, with or without flip averaging."""
        logits = self.window_logits(inputs)
        if not self.test_cfg.flip:
            return logits
        shapes = [
            sample.metainfo.get('img_shape', inputs.shape[-2:])[:2]
            for sample in data_samples
        ]
        mirrored = mirror_images(
            self.window_logits(mirror_images(inputs, shapes)), shapes)
        probs = (self.probabilities(logits) +
                 self.probabilities(mirrored)) / 2
        if self.num_classes == 1:
            # eps keeps logits finite, so that resizing them cannot make NaN
            return torch.logit(probs, eps=1e-6)
        return probs.clamp_min(torch.finfo(probs.dtype).tiny).log()

    def window_logits(self, inputs: Tensor) -> Tensor:
        """float32 logits of the whole batch at once, or window by window,
        computed in ``test_cfg.precision``."""
        dtype = autocast_dtype(self.test_cfg.precision, inputs.device.type)
        with torch.autocast(inputs.device.type, dtype=dtype,
                            enabled=dtype is not None):
            if self.test_cfg.mode == 'whole':
                return self.forward_logits(inputs).float()
            return self._slide_logits(inputs)

    def _slide_logits(self, inputs: Tensor) -> Tensor:
        n, _, h, w = inputs.shape
        crop_h, crop_w = (min(c, size)
                          for c, size in zip(self.test_cfg.crop_size, (h, w)))
        stride_h, stride_w = self.test_cfg.stride
        corners = [(y, x) for y in window_starts(h, crop_h, stride_h)
                   for x in window_starts(w, crop_w, stride_w)]
        count = inputs.new_zeros((h, w), dtype=torch.float32)
        for y, x in corners:
            count[y:y + crop_h, x:x + crop_w] += 1
        jobs = [(i, y, x) for i in range(n) for y, x in corners]
        logits: Optional[Tensor] = None
        for start in range(0, len(jobs), self.test_cfg.window_batch):
            group = jobs[start:start + self.test_cfg.window_batch]
            out = self.forward_logits(
                torch.cat([inputs[i:i + 1, :, y:y + crop_h, x:x + crop_w]
                           for i, y, x in group]))
            if logits is None:
                logits = out.new_zeros((n, out.shape[1], h, w),
                                       dtype=torch.float32)
            for (i, y, x), window in zip(group, out):
                logits[i, :, y:y + crop_h, x:x + crop_w] += window
        return logits / count

    def postprocess(self, logits: Tensor,
                    data_samples: List[SegDataSample]) -> List[SegDataSample]:
        """Undo padding, flip and resize; attach logits and the class map."""
        for logit, sample in zip(logits, data_samples):
            h, w = sample.metainfo.get('img_shape', logit.shape[-2:])[:2]
            logit = logit[:, :h, :w]
            if sample.metainfo.get('flip', False):
                logit = logit.flip(
                    FLIP_DIMS[sample.metainfo.get('flip_direction',
                                                  'horizontal')])
            ori_shape = sample.metainfo.get('ori_shape', (h, w))[:2]
            logit = self.resize(logit[None], ori_shape)[0].float()
            sample.seg_logits = PixelData(data=logit)
            sample.pred_sem_seg = PixelData(data=self.logits_to_classes(logit))
        return data_samples

    def probabilities(self, logits: Tensor) -> Tensor:
        """Sigmoid of binary logits, else softmax over the class dim."""
        if self.num_classes == 1:
            return logits.sigmoid()
        return logits.softmax(dim=-3)

    def logits_to_classes(self, logits: Tensor) -> Tensor:
        """``(C, H, W)`` logits → ``(1, H, W)`` int64 class map."""
        if self.num_classes == 1:
            return (logits.sigmoid() > self.threshold).long()
        return logits.argmax(dim=0, keepdim=True)

    def resize(self, logits: Tensor, size: Sequence[int]) -> Tensor:
        if tuple(logits.shape[-2:]) == tuple(size):
            return logits
        return F.interpolate(logits, size=tuple(size), mode='bilinear',
                             align_corners=self.align_corners)
