"""Checkpoint weights into a model, with a short account of what did not fit.

Why this exists instead of MMEngine's ``load_checkpoint``:
``docs/architecture.md`` (Checkpoints).
"""
import re
from collections import OrderedDict
from typing import Any, Dict, Mapping, Tuple

from mmengine.runner.checkpoint import CheckpointLoader
from torch import nn

from segkit.utils import LoadReport, compare_state_dicts, enforce_fit


def read_checkpoint(checkpoint: str, map_location: Any = 'cpu'
                    ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Read a checkpoint's state dict and meta with ``CheckpointLoader``.

    Args:
        checkpoint: A Runner checkpoint (``state_dict`` and ``meta``) or a
            bare state dict; a path or anything ``CheckpointLoader`` reads.
        map_location: Where tensors go.

    Returns:
        ``(state_dict, meta)``, the DDP ``module.`` prefix removed, as
        MMEngine does; ``meta`` is empty for a bare state dict.
    """
    # 'silent': MMEngine would print which backend reads the file.
    loaded = CheckpointLoader.load_checkpoint(checkpoint, map_location,
                                              logger='silent')
    if not isinstance(loaded, Mapping):
        raise ValueError(f'checkpoint {checkpoint} holds a '
                         f'{type(loaded).__name__}: expected a dict with a '
                         "'state_dict', or a state dict")
    state = loaded.get('state_dict', loaded)
    meta = (loaded.get('meta') or {}) if 'state_dict' in loaded else {}
    revised = OrderedDict(
        (re.sub(r'^module\.', '', key), value) for key, value in state.items())
    # torch reads per-module versions (e.g. BatchNorm's) from _metadata.
    revised._metadata = getattr(state, '_metadata', OrderedDict())
    return revised, dict(meta)


def adapt_to(model: nn.Module, state: Dict[str, Any]) -> Dict[str, Any]:
    """``state`` in ``model``'s key names, by its ``adapt_state_dict`` (a
    segmentor renames older layouts' keys); unchanged for other modules."""
    adapt = getattr(model, 'adapt_state_dict', None)
    if adapt is None:
        return state
    adapted = OrderedDict(adapt(dict(state)))
    adapted._metadata = getattr(state, '_metadata', OrderedDict())
    return adapted


def load_model_weights(model: nn.Module, checkpoint: str,
                       strict: bool = True,
                       map_location: Any = 'cpu',
                       relax: str = 'load with strict=False') -> LoadReport:
    """Load a checkpoint's weights into ``model``.

    Args:
        model: The module to load into.
        checkpoint: See :func:`read_checkpoint`.
        strict: Any size mismatch, missing or unexpected key raises
            :class:`~segkit.utils.CheckpointMismatchError` listing them, and
            nothing is loaded. Otherwise the tensors that fit are loaded and
            the rest is logged as a warning.
        map_location: Where tensors go.
        relax: How the user turns ``strict`` off, for the error's advice
            (:func:`~segkit.utils.enforce_fit`).

    Returns:
        The fit report, with the checkpoint's ``meta``.
    """
    state, meta = read_checkpoint(checkpoint, map_location)
    state = adapt_to(model, state)
    report = compare_state_dicts(model, state, checkpoint)
    report.meta = meta
    enforce_fit(report, strict, relax)
    fitting = OrderedDict((key, state[key]) for key in report.loaded)
    fitting._metadata = getattr(state, '_metadata', OrderedDict())
    model.load_state_dict(fitting, strict=False)
    return report
