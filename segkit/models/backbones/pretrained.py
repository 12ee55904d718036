"""ImageNet (or any) weights from a local file into a backbone, strictly."""
import logging
import os.path as osp
import re
from typing import Dict, Mapping, Optional, Sequence

from mmengine.logging import print_log
from torch import Tensor, nn

from segkit.engine.model_loading import read_checkpoint
from segkit.utils import MissingPathError, compare_state_dicts, enforce_fit
from .named_weights import NAMED_WEIGHTS, KeyMap


def read_weights(path: str) -> Dict[str, Tensor]:
    """A state dict from a ``.safetensors`` file or a torch checkpoint.

    Args:
        path: ``.safetensors`` (timm, Hugging Face) or anything
            :func:`segkit.engine.model_loading.read_checkpoint` reads
            (torchvision ``.pth``, a segkit checkpoint), weights-only.

    Returns:
        Key to tensor.
    """
    if not osp.isfile(path):
        raise MissingPathError(
            f'pretrained weights {path} not found: expected a local '
            '.pth or .safetensors file, or the name of installed weights ('
            f'{", ".join(NAMED_WEIGHTS)}); segkit never downloads weights '
            '(docs/guides/04-models-and-weights.md, "Pretrained '
            'weights")')
    if path.endswith('.safetensors'):
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise ImportError(
                f'{path}: reading .safetensors needs the safetensors '
                "package: pip install -e '.[timm]'") from None
        return load_file(path)
    return dict(read_checkpoint(path)[0])


def adapt_input_conv(weight: Tensor, in_channels: int) -> Tensor:
    """A first-convolution weight for ``in_channels`` inputs, from one
    trained on RGB, as timm and smp adapt it.

    One channel takes the sum over RGB; more than three repeat RGB
    cyclically, scaled by ``3 / in_channels`` so the activations keep
    their scale.

    Args:
        weight: ``(out, 3, kh, kw)``.
        in_channels: The new number of input channels.

    Returns:
        ``(out, in_channels, kh, kw)``.
    """
    if weight.shape[1] == in_channels:
        return weight
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = -(-in_channels // weight.shape[1])
    tiled = weight.repeat(1, repeats, 1, 1)[:, :in_channels]
    return tiled * (weight.shape[1] / in_channels)


def remap_keys(state: Mapping[str, Tensor], key_map: KeyMap
               ) -> Dict[str, Tensor]:
    """Rename keys by the first ``(pattern, replacement)`` whose regular
    expression matches from the start; other keys are kept."""
    renamed = {}
    for key, value in state.items():
        for pattern, replacement in key_map:
            new, count = re.subn('^' + pattern, replacement, key)
            if count:
                key = new
                break
        renamed[key] = value
    return renamed


def load_pretrained(module: nn.Module,
                    checkpoint: str,
                    prefix: Optional[str] = None,
                    key_map: KeyMap = (),
                    unused: Sequence[str] = (),
                    first_conv: Optional[str] = None,
                    source: Optional[str] = None) -> int:
    """Load a local weight file into ``module``, strictly.

    Args:
        module: The backbone.
        checkpoint: A local file (see :func:`read_weights`).
        prefix: Keep only keys starting with it, without it (e.g.
            ``'backbone.'`` to take a backbone out of a segmentor
            checkpoint), as MMEngine's ``Pretrained`` init does.
        key_map: ``(pattern, replacement)`` renames from the file's names to
            the module's (see :func:`remap_keys`).
        unused: Key prefixes (after renaming) the module has no counterpart
            for, such as an ImageNet classifier; dropped without complaint.
        first_conv: Key of the first convolution's weight; adapted with
            :func:`adapt_input_conv` when the module has other than 3 input
            channels.
        source: What to call the weights in messages (default: the file).

    Returns:
        How many tensors were loaded.

    Raises:
        CheckpointMismatchError: Any other missing, unexpected or
            mismatched key; nothing is loaded then.
    """
    source = source or checkpoint
    state = read_weights(checkpoint)
    if prefix:
        state = {key[len(prefix):]: value for key, value in state.items()
                 if key.startswith(prefix)}
        if not state:
            raise ValueError(f'pretrained weights {checkpoint}: no key starts '
                             f'with prefix={prefix!r}')
    state = remap_keys(state, key_map)
    state = {key: value for key, value in state.items()
             if not key.startswith(tuple(unused))}
    own = module.state_dict()
    if first_conv in state and first_conv in own:
        state[first_conv] = adapt_input_conv(state[first_conv],
                                             own[first_conv].shape[1])
    report = compare_state_dicts(module, state, source)
    enforce_fit(report, strict=True)
    module.load_state_dict(state, strict=True)
    print_log(f'{type(module).__name__}: loaded all {len(report.loaded)} '
              f'tensors from {source}', logger='current',
              level=logging.INFO)
    return len(report.loaded)


def pretrained_checkpoint(init_cfg) -> Optional[dict]:
    """The ``Pretrained`` entry of an ``init_cfg`` (dict or list), if any."""
    entries = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    found = [dict(cfg) for cfg in entries
             if isinstance(cfg, Mapping) and cfg.get('type') == 'Pretrained']
    if len(found) > 1:
        raise ValueError(f'init_cfg {init_cfg}: expected at most one '
                         "type='Pretrained' entry")
    return found[0] if found else None
