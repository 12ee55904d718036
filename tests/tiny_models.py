"""Tiny versions of the model configs in configs/, for tests that run
every model (exports, end-to-end tools) in seconds."""
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


def tiny_options(config: str) -> dict:
    """The keys of :data:`TINY` that ``config`` has, with their values,
    and fp32 inference (what parity is measured against)."""
    cfg = Config.fromfile(str(REPO / 'configs' / config))
    found = {}
    for key, value in TINY.items():
        node = cfg.to_dict()
        for part in key.split('.'):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            found[key] = value
    return dict(found, **{'model.test_cfg.precision': 'fp32'})


def _graph_key(node):
    """A config's model as the exported graph sees it (losses left out)."""
    if isinstance(node, dict):
        return tuple(sorted((k, _graph_key(v)) for k, v in node.items()
                            if k not in NOT_IN_GRAPH))
    if isinstance(node, (list, tuple)):
        return tuple(_graph_key(v) for v in node)
    return node


def distinct_models() -> list:
    """The model configs in configs/, one per distinct tiny network (e.g.
    unet_camvid and unet_camvid_quick differ in width only), each named
    by the configs it stands for: a new config is covered automatically."""
    groups = {}
    for path in sorted((REPO / 'configs').glob('*.py')):
        cfg = Config.fromfile(str(path))
        cfg.merge_from_dict(tiny_options(path.name))
        groups.setdefault(_graph_key(cfg.model.to_dict()), []).append(
            path.name)
    return [pytest.param(names[0], id='+'.join(names))
            for names in groups.values()]


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
