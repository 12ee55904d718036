"""DeepLabV3 (Chen et al., 2017) as a segkit segmentor, over torchvision."""
import logging
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor, nn
from torchvision.models.segmentation import (deeplabv3_mobilenet_v3_large,
                                             deeplabv3_resnet50,
                                             deeplabv3_resnet101)

from segkit.registry import MODELS
from segkit.structures import SegDataSample
from .base import BaseSegmentor

CHECKPOINT_PARTS = ('model', 'backbone')
# Keys listed in full in a loading error; the rest are counted.
MAX_LISTED_KEYS = 10


class Variant(NamedTuple):
    """A torchvision builder and where its backbone's weights live in the
    ImageNet classification model's state dict (``part='backbone'`` files).

    DeepLabV3 keeps the classification model's layers up to the last one it
    reads features from, so those keys only lose ``features_prefix``; the
    ImageNet classifier under ``classifier_prefix`` has no counterpart.
    """
    build: Callable[..., nn.Module]
    features_prefix: str
    classifier_prefix: str


BACKBONES: Dict[str, Variant] = {
    'resnet50': Variant(deeplabv3_resnet50, '', 'fc.'),
    'resnet101': Variant(deeplabv3_resnet101, '', 'fc.'),
    'mobilenet_v3_large': Variant(deeplabv3_mobilenet_v3_large, 'features.',
                                  'classifier.'),
}


def check_checkpoint_part(part: str) -> None:
    if part not in CHECKPOINT_PARTS:
        raise ValueError(f'torchvision checkpoint part must be one of '
                         f'{CHECKPOINT_PARTS}, got {part!r}')


def list_keys(keys: Sequence[str]) -> str:
    shown = ', '.join(keys[:MAX_LISTED_KEYS])
    more = len(keys) - MAX_LISTED_KEYS
    return f'{shown} (+{more} more)' if more > 0 else shown


@MODELS.register_module()
class DeepLabV3(BaseSegmentor):
    """DeepLabV3: a dilated backbone, atrous spatial pyramid pooling head.

    The network is torchvision's ``deeplabv3_<backbone>`` (kept whole as
    ``self.model``, so its state dict is torchvision's under ``model.``),
    always built with ``weights=None, weights_backbone=None``: nothing is
    downloaded. Output stride is 8 for the ResNets, 16 for MobileNetV3; the
    logits are resized bilinearly to exactly the input size, odd sizes
    included.

    Convolution weights are stored channels_last: PyTorch then runs every
    conv in that layout whatever the input's layout. On CPU (MobileNetV3,
    360×480) that made inference 1.4-1.9× and training 1.3-1.7× faster than
    torchvision's contiguous weights; results match to float rounding.

    Training needs at least 2 images per batch (per device with plain BN):
    the ASPP image-pooling branch applies BatchNorm to a 1×1 map.

    Weights: ``torchvision_checkpoint`` takes a local torchvision state dict;
    ``init_cfg=dict(type='Pretrained', checkpoint=...)`` takes a segkit
    (MMEngine) checkpoint or a plain state dict of this module. Both are
    applied by :meth:`init_weights`, which the Runner calls before training
    and not before testing (there ``load_from`` supplies the weights), so
    building the model never reads them. MMEngine loads ``Pretrained``
    non-strictly: keys that do not match are only logged.

    Args:
        num_classes: output channels of the classifier (and aux head); 1 for
            binary (sigmoid) segmentation.
        backbone: ``'resnet50'``, ``'resnet101'`` or
            ``'mobilenet_v3_large'``.
        aux_head: add torchvision's auxiliary FCN head on an intermediate
            feature map (ResNet layer3, MobileNetV3 C2). It only adds
            losses: each configured loss of its logits, times
            ``aux_loss_weight``, reported as ``aux.<loss_name>``. Predict
            and tensor modes never run it.
        aux_loss_weight: factor of the auxiliary losses.
        torchvision_checkpoint: ``dict(path=..., part=...)``, a file saved
            with ``torch.save(model.state_dict())`` of a torchvision model,
            loaded with ``weights_only=True``. ``part='model'``: a
            ``deeplabv3_<backbone>``; head keys (``classifier.``,
            ``aux_classifier.``) of another shape (another num_classes) or
            without a counterpart (aux head off) are skipped, and a missing
            aux head keeps its initial weights. ``part='backbone'``: the
            ImageNet classification model (e.g. ``resnet50``); its
            classifier is skipped. Every other key must match in name and
            shape. Skipped keys are logged.
        **kwargs: ``loss_decode``, ``threshold``, ``align_corners``,
            ``test_cfg``, ``data_preprocessor``, ``init_cfg``: see
            :class:`BaseSegmentor`.
    """

    def __init__(self,
                 num_classes: int,
                 backbone: str = 'resnet50',
                 aux_head: bool = False,
                 aux_loss_weight: float = 0.4,
                 torchvision_checkpoint: Optional[dict] = None,
                 **kwargs):
        super().__init__(num_classes=num_classes, **kwargs)
        if backbone not in BACKBONES:
            raise ValueError(f'backbone must be one of {tuple(BACKBONES)}, '
                             f'got {backbone!r}')
        if torchvision_checkpoint is not None:
            if set(torchvision_checkpoint) != {'path', 'part'}:
                raise ValueError(
                    f"torchvision_checkpoint must be dict(path=..., part="
                    f"'model'|'backbone'), got {dict(torchvision_checkpoint)}")
            check_checkpoint_part(torchvision_checkpoint['part'])
            init_cfgs = [self.init_cfg] if isinstance(
                self.init_cfg, dict) else (self.init_cfg or [])
            if any(cfg.get('type') == 'Pretrained' for cfg in init_cfgs):
                raise ValueError(
                    'give either torchvision_checkpoint or init_cfg='
                    "dict(type='Pretrained'), not both: each loads weights "
                    'into the whole model')
        self.backbone_name = backbone
        self.aux_loss_weight = aux_loss_weight
        self.torchvision_checkpoint = torchvision_checkpoint
        self.model = BACKBONES[backbone].build(
            weights=None, weights_backbone=None, num_classes=num_classes,
            aux_loss=aux_head)
        self.model.to(memory_format=torch.channels_last)

    def init_weights(self) -> None:
        """``init_cfg`` as usual, then the torchvision checkpoint, so that
        e.g. a Kaiming ``init_cfg`` cannot overwrite loaded weights."""
        first_call = not self.is_init
        super().init_weights()
        if first_call and self.torchvision_checkpoint is not None:
            self.load_torchvision_checkpoint(**self.torchvision_checkpoint)

    def load_torchvision_checkpoint(self, path: str, part: str) -> List[str]:
        """Load a torchvision state dict file (see ``torchvision_checkpoint``
        in the class docstring); return the file's skipped keys."""
        check_checkpoint_part(part)
        state = torch.load(path, map_location='cpu', weights_only=True)
        if not isinstance(state, dict) or not all(
                isinstance(value, Tensor) for value in state.values()):
            found = (f'a {type(state).__name__}'
                     if not isinstance(state, dict) else 'non-tensors under '
                     + list_keys([key for key, value in state.items()
                                  if not isinstance(value, Tensor)]))
            raise TypeError(
                f'{path}: expected a torchvision state dict (name → tensor, '
                f'as saved by torch.save(model.state_dict())), found {found}')
        # Matching is done in the file's key names, which errors then use.
        if part == 'model':
            target: nn.Module = self.model
            prefix = ''
            skippable: Tuple[str, ...] = ('classifier.', 'aux_classifier.')
            optional: Tuple[str, ...] = ('aux_classifier.', )
        else:
            variant = BACKBONES[self.backbone_name]
            target = self.model.backbone
            prefix = variant.features_prefix
            skippable, optional = (variant.classifier_prefix, ), ()
        own = {
            prefix + key: value
            for key, value in target.state_dict().items()
        }
        skipped = sorted(
            key for key, value in state.items() if key.startswith(skippable)
            and (key not in own or own[key].shape != value.shape))
        unexpected = sorted(
            key for key in state if key not in own and key not in skipped)
        missing = sorted(key for key in own
                         if key not in state and not key.startswith(optional))
        mismatched = sorted(
            f'{key} (file {tuple(value.shape)}, model '
            f'{tuple(own[key].shape)})' for key, value in state.items()
            if key in own and key not in skipped
            and own[key].shape != value.shape)
        if unexpected or missing or mismatched:
            problems = '; '.join(
                f'{what}: {list_keys(keys)}'
                for what, keys in (('missing keys', missing),
                                   ('unexpected keys', unexpected),
                                   ('shape mismatches', mismatched)) if keys)
            raise ValueError(
                f"{path} does not fit as part={part!r} of DeepLabV3 with "
                f"backbone={self.backbone_name!r} ({problems}). part='model' "
                f'takes a torchvision deeplabv3_{self.backbone_name} state '
                f"dict, part='backbone' a torchvision {self.backbone_name} "
                f'(ImageNet classification) state dict')
        loaded = {
            key: value
            for key, value in state.items() if key not in skipped
        }
        target.load_state_dict(
            {key.removeprefix(prefix): value for key, value in loaded.items()},
            strict=False)
        kept = sorted(key for key in own if key not in loaded)
        print_log(
            f'loaded {len(loaded)} tensors from {path} '
            f'(part={part!r}); skipped file keys: {skipped or "none"}; '
            f'left at initialisation: {kept or "none"}',
            logger='current',
            level=logging.WARNING if kept else logging.INFO)
        return skipped

    def forward_logits(self, inputs: Tensor) -> Tensor:
        """Logits ``(N, num_classes, H, W)`` for images ``(N, 3, H, W)``."""
        return self._forward(inputs, with_aux=False)[0]

    def loss(self, inputs: Tensor,
             data_samples: List[SegDataSample]) -> Dict[str, Tensor]:
        """The configured losses of the main logits and, with the aux head,
        ``aux_loss_weight`` × the same losses of the aux logits."""
        logits, aux_logits = self._forward(inputs, with_aux=True)
        losses = self.compute_losses(logits, data_samples)
        if aux_logits is not None:
            aux = self.compute_losses(aux_logits, data_samples, prefix='aux.')
            losses.update((name, self.aux_loss_weight * value)
                          for name, value in aux.items())
        return losses

    def _forward(self, inputs: Tensor,
                 with_aux: bool) -> Tuple[Tensor, Optional[Tensor]]:
        """torchvision's forward, with the aux head run only on request."""
        size = inputs.shape[-2:]
        features = self.model.backbone(inputs)
        logits = self.resize(self.model.classifier(features['out']), size)
        if not with_aux or self.model.aux_classifier is None:
            return logits, None
        aux_logits = self.model.aux_classifier(features['aux'])
        return logits, self.resize(aux_logits, size)
