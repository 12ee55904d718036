"""Backbone → neck → decode head (+ auxiliary heads): the one segmentor."""
from typing import Dict, List, Optional, Sequence, Union

from torch import Tensor, nn

from segkit.registry import MODELS
from segkit.structures import SegDataSample
from ..backbones.named_weights import normalization_for_weights
from .base import BaseSegmentor
from .state_dict_maps import adapt_legacy_keys

HeadConfig = Union[dict, Sequence[dict], None]


def _build_with_inputs(cfg: dict, channels, strides) -> nn.Module:
    """Build a neck or head from ``cfg``, giving it the channels and
    strides of the maps it reads unless the config sets them."""
    cfg = dict(cfg)
    cfg.setdefault('in_channels', list(channels))
    cfg.setdefault('in_strides', list(strides))
    return MODELS.build(cfg)


@MODELS.register_module()
class EncoderDecoder(BaseSegmentor):
    """``backbone → neck (optional) → decode_head``, with auxiliary heads
    that only add losses in training (mmsegmentation's layout).

    Each part is built from ``MODELS``; necks and heads receive the
    channels and strides of the maps before them, so configs never type
    channel lists. Losses belong to the heads and are logged as
    ``decode.<loss_name>`` and ``aux<i>.<loss_name>``. The data
    preprocessor's ``size_divisor`` must be a multiple of the backbone's
    largest stride, checked here at build time; without a data
    preprocessor config, ``SegDataPreProcessor`` pads to that stride. A
    backbone that loads weights by name (``'efficientnet-lite0'``) gives
    the preprocessor their normalisation unless the config sets its own
    (:func:`~segkit.models.backbones.named_weights.normalization_for_weights`).

    Args:
        backbone: A backbone config (see ``segkit.models.backbones``).
        decode_head: A head config; its ``num_classes`` is the model's.
        neck: An optional neck config.
        auxiliary_head: A head config or a list of them; ``num_classes``
            defaults to the decode head's.
        threshold, align_corners, data_preprocessor, init_cfg, test_cfg:
            See :class:`BaseSegmentor`.
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 neck: Optional[dict] = None,
                 auxiliary_head: HeadConfig = None,
                 threshold: float = 0.5,
                 align_corners: bool = False,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None) -> None:
        if 'num_classes' not in decode_head:
            raise ValueError('EncoderDecoder decode_head has no num_classes: '
                             'set model.decode_head.num_classes')
        data_preprocessor = normalization_for_weights(data_preprocessor,
                                                      backbone)
        super().__init__(num_classes=decode_head['num_classes'],
                         threshold=threshold, align_corners=align_corners,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg, test_cfg=test_cfg)
        self.backbone = MODELS.build(backbone)
        channels, strides = self.backbone.out_channels, self.backbone.strides
        self.neck = None
        if neck is not None:
            self.neck = _build_with_inputs(neck, channels, strides)
            channels, strides = self.neck.out_channels, self.neck.strides
        self.decode_head = _build_with_inputs(decode_head, channels, strides)
        if isinstance(auxiliary_head, dict):
            auxiliary_head = [auxiliary_head]
        self.auxiliary_head = nn.ModuleList(
            _build_with_inputs({'num_classes': self.num_classes, **cfg},
                               channels, strides)
            for cfg in auxiliary_head or ())
        self.size_divisor = max(self.backbone.strides)
        if data_preprocessor is None:
            self.data_preprocessor = MODELS.build(normalization_for_weights(
                dict(type='SegDataPreProcessor',
                     size_divisor=self.size_divisor), backbone))
        divisor = getattr(self.data_preprocessor, 'pad_size_divisor', 1)
        if divisor % self.size_divisor:
            raise ValueError(
                f'data_preprocessor size_divisor={divisor}, but '
                f'{self._backbone_name()} has stride {self.size_divisor}: '
                f'expected a multiple of {self.size_divisor}; set '
                f'model.data_preprocessor.size_divisor={self.size_divisor}')

    def _backbone_name(self) -> str:
        backbone = self.backbone
        name = getattr(backbone, 'name', None) or getattr(
            backbone, 'model_name', None)
        kind = type(backbone).__name__
        return f'{kind}({name})' if name else kind

    def extract_features(self, inputs: Tensor) -> List[Tensor]:
        """Backbone (and neck) feature maps of a batch."""
        if min(inputs.shape[-2:]) < self.size_divisor:
            raise ValueError(
                f'{self._backbone_name()} needs inputs of at least '
                f'{self.size_divisor}×{self.size_divisor} (its largest '
                f'stride), got {tuple(inputs.shape[-2:])}: pad to a multiple '
                f'of {self.size_divisor} (data_preprocessor size_divisor)')
        features = self.backbone(inputs)
        return self.neck(features) if self.neck is not None else features

    def forward_logits(self, inputs: Tensor) -> Tensor:
        """Logits ``(N, num_classes, H, W)`` at the size of ``inputs``."""
        logits = self.decode_head(self.extract_features(inputs))
        return self.resize(logits, inputs.shape[-2:])

    def loss(self, inputs: Tensor,
             data_samples: List[SegDataSample]) -> Dict[str, Tensor]:
        """Each head's losses of one forward pass, prefixed by the head."""
        features = self.extract_features(inputs)
        heads = [('decode', self.decode_head)] + [
            (f'aux{i}', head) for i, head in enumerate(self.auxiliary_head)]
        return {
            f'{prefix}.{name}': value
            for prefix, head in heads
            for name, value in head.loss(features, data_samples).items()
        }

    def adapt_state_dict(self, state: Dict[str, Tensor]
                         ) -> Dict[str, Tensor]:
        """Old segkit UNet / DeepLabV3 and torchvision ``deeplabv3_*`` keys
        in this layout (see :mod:`.state_dict_maps`)."""
        return adapt_legacy_keys(state)
