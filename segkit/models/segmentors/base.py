"""What every segmentor shares: the three forward modes around one network."""
from abc import ABCMeta, abstractmethod
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from torch import Tensor, nn

from segkit.registry import MODELS
from segkit.structures import SegDataSample

LossConfig = Union[dict, Sequence[dict]]
# mmcv's RandomFlip directions → the tensor dims they mirror.
FLIP_DIMS = {'horizontal': (-1, ), 'vertical': (-2, ), 'diagonal': (-2, -1)}


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
    """

    def __init__(self,
                 num_classes: int,
                 loss_decode: LossConfig = dict(type='CrossEntropyLoss'),
                 threshold: float = 0.5,
                 align_corners: bool = False,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None):
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
        return self.postprocess(self.forward_logits(inputs), data_samples)

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
