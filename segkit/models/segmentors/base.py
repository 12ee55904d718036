"""What every segmentor shares: the three forward modes around one network,
and the inference modes (whole image, sliding window, flip and multi-scale
TTA) of predict."""
import dataclasses
from abc import ABCMeta, abstractmethod
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from torch import Tensor, nn

from segkit.engine.optim.precision import autocast_dtype
from segkit.registry import MODELS
from segkit.structures import SegDataSample
from segkit.utils import ConfigValueError
from .inference_modes import (FLIP_DIMS, InferenceConfig, add_resized,
                              mirror_images, rescale_images, slide_logits)


class BaseSegmentor(BaseModel, metaclass=ABCMeta):
    """Loss, predict and tensor modes for a network that maps images to logits.

    A subclass implements :meth:`forward_logits` and, to train, :meth:`loss`
    (:class:`EncoderDecoder` does both from a backbone and heads); padding,
    flips, sliding windows and resizing back to the original image are the
    same for every architecture and live here.

    Args:
        num_classes: 1 for a single sigmoid output (binary segmentation,
            thresholded at ``threshold``), 2 or more for softmax.
        threshold: foreground probability threshold when ``num_classes=1``.
        align_corners: passed to the bilinear resize of logits.
        test_cfg: how ``predict`` computes logits, see
            :class:`InferenceConfig`, e.g. ``dict(mode='slide',
            crop_size=(360, 480), stride=(240, 320), flip=True,
            scales=[0.75, 1.0, 1.25])``; whole
            image without flip by default. ``tensor`` mode always returns
            the network's plain logits.
    """

    def __init__(self,
                 num_classes: int,
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
        if self.test_cfg.min_area and num_classes != 1:
            raise ConfigValueError(
                f'test_cfg min_area={self.test_cfg.min_area}: only a binary '
                f'model (num_classes=1) clears small foregrounds; this one '
                f'has num_classes={num_classes}: remove min_area')
        self._register_load_state_dict_pre_hook(self._adapt_loaded_keys)

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
        """The losses of a training batch, by name; a subclass that trains
        implements it."""
        raise NotImplementedError(
            f'{type(self).__name__} has no losses: train an EncoderDecoder, '
            'whose heads own theirs, or implement loss()')

    def adapt_state_dict(self, state: Dict[str, Tensor]
                         ) -> Dict[str, Tensor]:
        """A state dict of an older or foreign layout in this model's key
        names; the identity here. Every load goes through it: MMEngine's
        (``load_from``, resume) and segkit's fit checks."""
        return state

    def _adapt_loaded_keys(self, state_dict: Dict[str, Tensor], prefix: str,
                           *args) -> None:
        own = {key[len(prefix):]: state_dict.pop(key)
               for key in list(state_dict) if key.startswith(prefix)}
        state_dict.update((prefix + key, value)
                          for key, value in self.adapt_state_dict(own).items())

    def predict(self, inputs: Tensor,
                data_samples: Optional[List[SegDataSample]] = None
                ) -> List[SegDataSample]:
        if data_samples is None:
            shape = tuple(inputs.shape[-2:])
            data_samples = [
                SegDataSample(metainfo=dict(img_shape=shape, ori_shape=shape))
                for _ in range(inputs.shape[0])
            ]
        return self.postprocess(self.inference(inputs, data_samples),
                                data_samples)

    def inference(self, inputs: Tensor,
                  data_samples: List[SegDataSample]) -> Tensor:
        """Logits of the padded batch as ``test_cfg`` asks: whole or
        sliding window, at each of ``scales``, with or without its mirror.

        Views (scales, mirrors) add their probabilities, resized to each
        image's ``img_shape``, into one running sum at the batch's size, so
        memory grows with the largest scale, not with the number of views;
        the result is the log of their mean (logit when binary), valid
        inside each ``img_shape``.
        """
        cfg = self.test_cfg
        if cfg.single_view:
            return self.window_logits(inputs)
        shapes = [
            sample.metainfo.get('img_shape', inputs.shape[-2:])[:2]
            for sample in data_samples
        ]
        # MMEngine's base preprocessor (tests, bare models) does not pad
        pre = self.data_preprocessor
        divisor = getattr(pre, 'pad_size_divisor', 1)
        pad_value = getattr(pre, 'pad_value', 0)
        total = inputs.new_zeros(
            (inputs.shape[0], self.num_classes, *inputs.shape[-2:]),
            dtype=torch.float32)
        for scale in cfg.scales:
            scaled, sizes = rescale_images(inputs, shapes, scale, divisor,
                                           pad_value)
            for mirror in (False, True)[:1 + cfg.flip]:
                add_resized(total, self.view_probabilities(
                    scaled, sizes, mirror), shapes, sizes, self.resize)
        probs = total.div_(len(cfg.scales) * (1 + cfg.flip))
        if self.num_classes == 1:
            # eps keeps logits finite, so that resizing them cannot make NaN
            return torch.logit(probs, eps=1e-6)
        return probs.clamp_min(torch.finfo(probs.dtype).tiny).log()

    def view_probabilities(self, inputs: Tensor,
                           shapes: Sequence[Sequence[int]],
                           mirror: bool) -> Tensor:
        """Probabilities of the padded batch, or of its images mirrored
        inside their ``shapes`` and mirrored back."""
        if not mirror:
            return self.probabilities(self.window_logits(inputs))
        return self.probabilities(mirror_images(
            self.window_logits(mirror_images(inputs, shapes)), shapes))

    def window_logits(self, inputs: Tensor) -> Tensor:
        """float32 logits of the whole batch at once, or window by window,
        computed in ``test_cfg.precision``."""
        dtype = autocast_dtype(self.test_cfg.precision, inputs.device.type)
        with torch.autocast(inputs.device.type, dtype=dtype,
                            enabled=dtype is not None):
            if self.test_cfg.mode == 'whole':
                return self.forward_logits(inputs).float()
            return slide_logits(self.forward_logits, inputs, self.test_cfg)

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
            sample.pred_sem_seg = PixelData(data=self.clear_small_foreground(
                self.logits_to_classes(logit)))
        return data_samples

    def set_test_options(self,
                         threshold: Optional[float] = None,
                         flip: Optional[bool] = None,
                         scales: Optional[Sequence[float]] = None) -> None:
        """Override the binary ``threshold``, flip and/or multi-scale TTA,
        e.g. from command-line flags; ``None`` keeps the current value.

        Args:
            threshold: Foreground probability in [0, 1]; binary models only.
            flip: Average each image's prediction with its mirror's.
            scales: Average the predictions of the image resized by each
                factor (:class:`InferenceConfig`).
        """
        if threshold is not None:
            if self.num_classes != 1:
                raise ValueError(
                    f'threshold={threshold}: only a binary model '
                    f'(num_classes=1) thresholds; this one has '
                    f'num_classes={self.num_classes} and takes the argmax')
            if not 0 <= threshold <= 1:
                raise ValueError(f'threshold={threshold}: expected a '
                                 'foreground probability in [0, 1]')
            self.threshold = threshold
        if flip is not None:
            self.test_cfg = dataclasses.replace(self.test_cfg, flip=flip)
        if scales is not None:
            self.test_cfg = dataclasses.replace(self.test_cfg, scales=scales)

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

    def clear_small_foreground(self, classes: Tensor) -> Tensor:
        """``classes`` (one image's binary map), zeroed in place when its
        foreground is smaller than ``test_cfg.min_area`` pixels."""
        if self.test_cfg.min_area and (
                int(classes.count_nonzero()) < self.test_cfg.min_area):
            classes.zero_()
        return classes

    def resize(self, logits: Tensor, size: Sequence[int]) -> Tensor:
        if tuple(logits.shape[-2:]) == tuple(size):
            return logits
        return F.interpolate(logits, size=tuple(size), mode='bilinear',
                             align_corners=self.align_corners)
