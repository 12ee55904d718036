"""Tiny versions of the model configs in configs/, for tests that run
every model (exports, end-to-end tools) in seconds."""
import copy
import functools
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[1]
# Narrower versions of whatever a config has, so that exports stay quick.
TINY = {'model.backbone.base_channels': 4, 'model.base_channels': 4}
# Keys that change training, not the exported graph.
NOT_IN_GRAPH = ('loss_decode', 'init_cfg', 'pretrained', 'test_cfg')
# Keys that change the widths of the graph's layers, which of them it
# returns, or their strides (output_stride: dilated or strided
# convolutions), not which kinds of layer it has.
WIDTHS = ('num_classes', 'decoder_channels', 'channels', 'base_channels',
          'in_channels', 'out_channels', 'out_indices', 'output_stride')


@functools.lru_cache(maxsize=None)
def _model_config(config: str) -> dict:
    """``configs/<config>``'s ``model``, read once per process (collection
    reads every config for the parametrisations)."""
    return Config.fromfile(str(REPO / 'configs' / config)).to_dict()['model']


def tiny_options(config: str) -> dict:
    """The keys of :data:`TINY` that ``config`` has, with their values,
    and fp32 inference (what parity is measured against)."""
    found = {}
    for key, value in TINY.items():
        node = {'model': _model_config(config)}
        for part in key.split('.'):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            found[key] = value
    return dict(found, **{'model.test_cfg.precision': 'fp32'})


def _graph_key(node, ignored=NOT_IN_GRAPH):
    """A config's model as the exported graph sees it (``ignored`` keys
    left out)."""
    if isinstance(node, dict):
        return tuple(sorted((k, _graph_key(v, ignored))
                            for k, v in node.items() if k not in ignored))
    if isinstance(node, (list, tuple)):
        return tuple(_graph_key(v, ignored) for v in node)
    return node


def distinct_models() -> list:
    """The model configs in configs/, one per distinct tiny network (e.g.
    unet_camvid and unet_camvid_quick differ in width only), each named
    by the configs it stands for: a new config is covered automatically.

    Of those networks, the fewest whose exports hold every backbone and
    every neck and head that some config has (then those standing for the
    most configs): an export tests each layer's ops, and each takes
    seconds to tens of seconds with dynamic shapes. E.g. fpn_effl0 holds
    the FPN of fpn_r50 and the EfficientNet-Lite0 of unet_effl0, whose
    U-Net head the ResNet-18 U-Nets hold, and deeplabv3plus_r50 the
    ResNet-50 of both R50 configs."""
    groups, parts, ignored = {}, {}, NOT_IN_GRAPH + WIDTHS
    for path in sorted((REPO / 'configs').glob('*.py')):
        cfg = Config(dict(model=copy.deepcopy(_model_config(path.name))))
        cfg.merge_from_dict(tiny_options(path.name))
        model = cfg.model.to_dict()
        key = _graph_key(model, ignored)
        groups.setdefault(key, []).append(path.name)
        parts[key] = {
            ('backbone', _graph_key(model.get('backbone'), ignored)),
            ('head', _graph_key({k: model.get(k) for k in (
                'type', 'neck', 'decode_head', 'auxiliary_head')}, ignored))}
    every = set().union(*parts.values())
    for count in range(1, len(groups) + 1):
        covers = [keys for keys in itertools.combinations(groups, count)
                  if set().union(*(parts[k] for k in keys)) == every]
        if covers:
            kept = max(covers, key=lambda keys: sum(
                len(groups[k]) for k in keys))
            return [pytest.param(groups[k][0], id='+'.join(groups[k]))
                    for k in sorted(kept, key=groups.get)]
    return []


def calibrate_norms(model: torch.nn.Module, image: np.ndarray) -> None:
    """Set every BatchNorm's running statistics from one real image, as
    training would have: freshly initialised deep nets otherwise grow
    logits in the thousands, where float32 rounding alone exceeds the
    export's absolute 1e-3 target. The model is left in eval mode."""
    norms = [m for m in model.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over what it sees
    divisor = model.data_preprocessor.pad_size_divisor
    height, width = (s // divisor * divisor for s in image.shape[:2])
    chw = torch.from_numpy(np.ascontiguousarray(
        image[:height, :width].transpose(2, 0, 1)))
    # the image and its mirror: pooled branches (ASPP) see 2 values
    batch = model.data_preprocessor(dict(inputs=[chw, chw.flip(-1)],
                                         data_samples=None), False)['inputs']
    model.train()
    with torch.no_grad():
        model(batch, mode='tensor')
    model.eval()
