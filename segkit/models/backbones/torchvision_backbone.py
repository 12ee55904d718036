"""torchvision's ImageNet classifiers as feature pyramids."""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from torch import Tensor, nn

from segkit.registry import MODELS
from .base import BaseBackbone, check_out_indices, make_dilated
from .pretrained import KeyMap

_RESNET_STAGES = (('conv1', 'bn1', 'relu'), ('maxpool', 'layer1'),
                  ('layer2', ), ('layer3', ), ('layer4', ))


@dataclass(frozen=True)
class _Layout:
    """Where a torchvision model's stages are and what they return (the
    model is ``torchvision.models.<name>``, imported when one is built:
    torchvision takes most of a second to import)."""
    stages: Tuple[Tuple[str, ...], ...]  # dotted child names per stage
    out_channels: Tuple[int, ...]
    strides: Tuple[int, ...]
    first_conv: str  # module name of the first convolution
    classifier: Tuple[str, ...]  # ImageNet-only modules, deleted
    native_dilation: str = ''  # 'resnet' | 'mobilenet': torchvision's own


def _features(*groups: range) -> Tuple[Tuple[str, ...], ...]:
    return tuple(tuple(f'features.{i}' for i in group) for group in groups)


def _resnet(expansion: int, native: str) -> _Layout:
    return _Layout(_RESNET_STAGES,
                   (64, 64 * expansion, 128 * expansion, 256 * expansion,
                    512 * expansion), (2, 4, 8, 16, 32), 'conv1',
                   ('avgpool', 'fc'), native)


LAYOUTS: Dict[str, _Layout] = {
    'resnet18': _resnet(1, ''),
    'resnet34': _resnet(1, ''),
    'resnet50': _resnet(4, 'resnet'),
    'resnet101': _resnet(4, 'resnet'),
    'mobilenet_v3_large': _Layout(
        _features(range(0, 2), range(2, 4), range(4, 7), range(7, 13),
                  range(13, 17)), (16, 24, 40, 112, 960), (2, 4, 8, 16, 32),
        'features.0.0', ('avgpool', 'classifier'), 'mobilenet'),
    'convnext_tiny': _Layout(
        _features(range(0, 2), range(2, 4), range(4, 6), range(6, 8)),
        (96, 192, 384, 768), (4, 8, 16, 32), 'features.0.0',
        ('avgpool', 'classifier')),
}


@MODELS.register_module()
class TorchvisionBackbone(BaseBackbone):
    """A torchvision classifier without its head, returning stage outputs.

    The network is built with ``weights=None`` (nothing downloads) and kept
    under ``body`` with torchvision's own module names, so an ImageNet file
    saved by ``torch.save(torchvision.models.resnet50().state_dict())``
    loads with ``init_cfg=dict(type='Pretrained', checkpoint=PATH)``.

    Args:
        name: One of :data:`LAYOUTS`: resnet18/34/50/101,
            mobilenet_v3_large, convnext_tiny.
        in_channels: Image channels; the first convolution is rebuilt for
            them (and adapted when pretrained weights load).
        out_indices: Which stages to return.
        output_stride: 32, or 16/8 by dilating the last stages (ResNet and
            MobileNetV3; torchvision's own dilation where it has one).
        frozen_stages, norm_eval, init_cfg: See :class:`BaseBackbone`.
    """

    def __init__(self,
                 name: str,
                 in_channels: int = 3,
                 out_indices: Optional[Sequence[int]] = None,
                 output_stride: int = 32,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(frozen_stages, norm_eval, init_cfg)
        if name not in LAYOUTS:
            raise ValueError(f'TorchvisionBackbone name={name!r}: expected '
                             f'one of {sorted(LAYOUTS)}')
        layout = self.layout = LAYOUTS[name]
        self.name = name
        if output_stride not in (8, 16, 32) or output_stride < min(
                layout.strides):
            raise ValueError(f'TorchvisionBackbone({name}) output_stride='
                             f'{output_stride}: expected 8, 16 or 32')
        dilated = [s > output_stride for s in layout.strides]
        if any(dilated) and not (layout.native_dilation
                                 or name.startswith('resnet')):
            raise ValueError(
                f'TorchvisionBackbone({name}) cannot dilate to '
                f'output_stride={output_stride}: expected 32 (dilation works '
                'for the ResNets and mobilenet_v3_large)')
        kwargs = {}
        if layout.native_dilation == 'resnet':
            kwargs['replace_stride_with_dilation'] = dilated[2:]
        elif layout.native_dilation == 'mobilenet' and output_stride == 16:
            kwargs['dilated'] = True
        from torchvision import models
        self.body = getattr(models, name)(weights=None, **kwargs)
        if in_channels != 3:
            self._replace_first_conv(in_channels)
        self.out_indices = check_out_indices(
            range(len(layout.strides)) if out_indices is None else
            out_indices, len(layout.strides), f'TorchvisionBackbone({name})')
        # Stages past the deepest returned one are never run: deleted, like
        # the classifier, so they hold no parameters (DDP refuses unused
        # ones) and a pretrained file's keys for them are skipped.
        self.built_stages = layout.stages[:self.out_indices[-1] + 1]
        self.deleted_modules = layout.classifier + sum(
            layout.stages[len(self.built_stages):], ())
        for module in self.deleted_modules:
            parent, _, child = module.rpartition('.')
            delattr(self.body.get_submodule(parent), child)
        if not kwargs:
            # No torchvision dilation: dilate every stage past the stride.
            dilation = 1
            for stage, past in zip(self.stages(), dilated):
                if past:
                    dilation *= 2
                    make_dilated(stage, dilation)
        strides = [min(s, output_stride) for s in layout.strides]
        self.out_channels = tuple(layout.out_channels[i]
                                  for i in self.out_indices)
        self.strides = tuple(strides[i] for i in self.out_indices)

    def _replace_first_conv(self, in_channels: int) -> None:
        parent_name, _, child = self.layout.first_conv.rpartition('.')
        parent = self.body.get_submodule(parent_name)
        old = getattr(parent, child)
        setattr(parent, child, nn.Conv2d(
            in_channels, old.out_channels, old.kernel_size, old.stride,
            old.padding, old.dilation, old.groups, old.bias is not None))

    def stages(self) -> List[nn.Module]:
        return [nn.ModuleList(self.body.get_submodule(name) for name in stage)
                for stage in self.built_stages]

    def forward(self, inputs: Tensor) -> List[Tensor]:
        outs = []
        x = inputs
        for index, stage in enumerate(self.built_stages):
            for name in stage:
                x = self.body.get_submodule(name)(x)
            if index in self.out_indices:
                outs.append(x)
        return outs

    def pretrained_key_map(self) -> Tuple[KeyMap, Sequence[str], str]:
        """torchvision's ImageNet names, under ``body.``; the keys of the
        classifier and of stages past ``out_indices`` are not used."""
        unused = tuple(f'body.{name}.' for name in self.deleted_modules)
        return ((r'(?!body\.)', 'body.'), ), unused, \
            f'body.{self.layout.first_conv}.weight'
