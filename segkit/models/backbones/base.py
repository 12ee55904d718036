"""What every backbone promises: its features' channels and strides,
frozen stages, frozen norms, and strict local pretrained weights."""
from typing import List, Optional, Sequence, Tuple

from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from segkit.utils import ConfigValueError
from .named_weights import named_weights
from .pretrained import KeyMap, load_pretrained, pretrained_checkpoint


class BaseBackbone(BaseModule):
    """A network that maps images to a list of feature maps.

    Subclasses set :attr:`out_channels` and :attr:`strides` (one entry per
    returned feature, shallow to deep) and implement :meth:`stages`, the
    modules each feature is computed by, in order, which ``frozen_stages``
    freezes. Decode heads read ``out_channels`` when they are built, so no
    config types a channel list.

    Args:
        frozen_stages: Stages ``0..frozen_stages`` keep their weights and
            norm statistics (-1: none).
        norm_eval: Keep every BatchNorm in eval mode while training (small
            batches, fine-tuning).
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH, prefix=...)``
            loads a local file strictly (:meth:`load_pretrained`), adapting
            the first convolution to ``in_channels``; ``checkpoint`` may
            also name installed weights (``'efficientnet-lite0'``,
            :mod:`~segkit.models.backbones.named_weights`). Other init
            configs as MMEngine's.

    Attributes:
        weights_source: Where the weights came from once
            :meth:`init_weights` ran: the file or name and how many tensors
            it gave, or ``None`` (initialised from scratch).
    """

    out_channels: Tuple[int, ...]
    strides: Tuple[int, ...]

    def __init__(self,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.weights_source: Optional[str] = None

    def stages(self) -> List[nn.Module]:
        """The modules of each stage, input side first."""
        raise NotImplementedError

    def forward(self, inputs: Tensor) -> List[Tensor]:
        raise NotImplementedError

    def init_weights(self) -> None:
        pretrained = pretrained_checkpoint(self.init_cfg)
        if pretrained is None:
            super().init_weights()
        elif not self._is_init:
            self.weights_source = self.load_pretrained(
                pretrained['checkpoint'], pretrained.get('prefix'))
            self._is_init = True
        self._freeze_stages()

    def load_pretrained(self, checkpoint: str,
                        prefix: Optional[str] = None) -> str:
        """Load a local weight file strictly (see
        :func:`~segkit.models.backbones.pretrained.load_pretrained`) with
        this backbone's :meth:`pretrained_key_map`.

        Returns:
            Where the weights came from and how many tensors they gave.
        """
        weights = named_weights(checkpoint)
        if weights is not None:
            raise ConfigValueError(
                f"{type(self).__name__} init_cfg checkpoint='{checkpoint}': "
                f'those weights are for '
                f"TimmBackbone(model_name='{weights.architecture}')")
        key_map, unused, first_conv = self.pretrained_key_map()
        loaded = load_pretrained(self, checkpoint, prefix, key_map, unused,
                                 first_conv)
        return f'{checkpoint}, {loaded} tensors loaded'

    def pretrained_key_map(self) -> Tuple[KeyMap, Sequence[str], str]:
        """``(key_map, unused prefixes, first conv key)`` from a weight
        file's names to this module's; the identity by default."""
        return (), (), ''

    def train(self, mode: bool = True) -> 'BaseBackbone':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        for stage in self.stages()[:self.frozen_stages + 1]:
            stage.eval()
            for param in stage.parameters():
                param.requires_grad = False


def check_out_indices(out_indices: Sequence[int], num_stages: int,
                      what: str) -> Tuple[int, ...]:
    """``out_indices`` as a sorted tuple of valid, distinct stage indices."""
    indices = tuple(i % num_stages if -num_stages <= i < num_stages else i
                    for i in out_indices)
    if (not indices or len(set(indices)) != len(indices)
            or not all(0 <= i < num_stages for i in indices)):
        raise ValueError(f'{what}: out_indices={tuple(out_indices)}: expected '
                         f'distinct stage indices in 0..{num_stages - 1}')
    return tuple(sorted(indices))


def make_dilated(stage: nn.Module, dilation: int) -> None:
    """Turn a stage's strided convolutions into dilated ones, in place.

    Every convolution loses its stride; those with a kernel larger than one
    get ``dilation`` and the padding that keeps the map size. The stage then
    keeps its input's resolution (smp's way for any CNN).
    """
    for module in stage.modules():
        if isinstance(module, nn.Conv2d):
            if module.stride != (1, 1):
                module.stride = (1, 1)
            if module.kernel_size[0] > 1:
                module.dilation = (dilation, dilation)
                module.padding = tuple((k - 1) // 2 * dilation
                                       for k in module.kernel_size)
