"""Any timm model with ``features_only`` as a backbone (timm is optional)."""
from typing import Any, List, Optional, Sequence

from torch import Tensor, nn

from segkit.registry import MODELS
from .base import BaseBackbone
from segkit.utils import ConfigValueError
from .named_weights import named_weights
from .pretrained import load_pretrained, read_weights


def _timm():
    try:
        import timm
    except ImportError:
        raise ImportError("TimmBackbone needs timm: pip install -e '.[timm]'"
                          ) from None
    return timm


@MODELS.register_module()
class TimmBackbone(BaseBackbone):
    """``timm.create_model(model_name, features_only=True)``.

    Works for CNNs (ResNets, EfficientNets, ConvNeXts, ...) and
    hierarchical transformers (PVTv2, Swin, ...) alike: ``out_channels`` and
    ``strides`` come from timm's ``feature_info``.

    Args:
        model_name: A timm model name, e.g. ``'resnet18'``, ``'pvt_v2_b0'``.
        in_channels: Image channels (timm's ``in_chans``).
        out_indices: Which features to return (timm's default: all).
        output_stride: 32, or 16/8 where the timm model supports dilation.
        frozen_stages, norm_eval: See :class:`BaseBackbone`.
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH)`` with a local
            ``.safetensors`` or ``.pth`` file of the timm model: loaded
            through timm's own strict pretrained loader, which drops the
            classifier and adapts the first convolution to ``in_channels``.
            ``checkpoint`` may name installed weights instead
            (``'efficientnet-lite0'`` for ``tf_efficientnet_lite0``): their
            keys are renamed to timm's and loaded as strictly.
        **model_kwargs: More ``timm.create_model`` arguments.
    """

    def __init__(self,
                 model_name: str,
                 in_channels: int = 3,
                 out_indices: Optional[Sequence[int]] = None,
                 output_stride: int = 32,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg: Optional[dict] = None,
                 **model_kwargs: Any) -> None:
        super().__init__(frozen_stages, norm_eval, init_cfg)
        self.model_name = model_name
        self.create_kwargs = dict(features_only=True, in_chans=in_channels,
                                  **model_kwargs)
        if out_indices is not None:
            self.create_kwargs['out_indices'] = tuple(out_indices)
        if output_stride != 32:
            self.create_kwargs['output_stride'] = output_stride
        self.model = self._create(pretrained=False)
        info = self.model.feature_info
        self.out_channels = tuple(info.channels())
        self.strides = tuple(info.reduction())

    def _create(self, **kwargs: Any) -> nn.Module:
        timm = _timm()
        try:
            return timm.create_model(self.model_name, **self.create_kwargs,
                                     **kwargs)
        except RuntimeError as error:  # unknown model name
            raise ValueError(f'TimmBackbone model_name={self.model_name!r}: '
                             f'{error}') from None

    def stages(self) -> List[nn.Module]:
        """The modules computed after the previous returned feature and up
        to each returned feature's module (timm's ``feature_info``)."""
        modules = list(self.model.named_modules())
        position = {name: i for i, (name, _) in enumerate(modules)}
        # named_modules is a pre-order walk: a subtree is contiguous.
        last = {}
        for i, (name, _) in enumerate(modules):
            parts = name.split('.')
            for depth in range(len(parts) + 1):
                last['.'.join(parts[:depth])] = i
        ends = []
        for info in self.model.feature_info.get_dicts():
            name = info['module']
            name = name if name in position else name.replace('.', '_', 1)
            ends.append(last[name])
        stages, start = [], 0
        for end in ends:
            stages.append(nn.ModuleList(
                module for i, (name, module) in enumerate(modules)
                if name and start <= i and last[name] <= end))
            start = end + 1
        return stages

    def forward(self, inputs: Tensor) -> List[Tensor]:
        return list(self.model(inputs))

    def load_pretrained(self, checkpoint: str,
                        prefix: Optional[str] = None) -> str:
        """Load installed weights by name (renamed to timm's keys), or a
        local timm weight file with timm's strict loader.

        Returns:
            Where the weights came from and how many tensors they gave.
        """
        weights = named_weights(checkpoint)
        if weights is not None:
            if weights.architecture != self.model_name:
                raise ConfigValueError(
                    f"TimmBackbone model_name='{self.model_name}' with "
                    f"init_cfg checkpoint='{checkpoint}': those weights are "
                    f"for model_name='{weights.architecture}'")
            source = weights.describe()
            loaded = load_pretrained(self.model, weights.path(), prefix,
                                     weights.key_map(self.model),
                                     weights.classifier, weights.first_conv,
                                     source)
            return f'{source}, {loaded} tensors loaded'
        state = read_weights(checkpoint)
        if prefix:
            state = {k[len(prefix):]: v for k, v in state.items()
                     if k.startswith(prefix)}
        loaded = self._create(pretrained=True,
                              pretrained_cfg_overlay=dict(state_dict=state))
        self.model.load_state_dict(loaded.state_dict(), strict=True)
        return f'{checkpoint}, {len(self.model.state_dict())} tensors loaded'
