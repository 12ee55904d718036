"""Checkpoint weights into a model, with a short account of what did not fit.

MMEngine's ``load_checkpoint`` either raises torch's strict-load error, which
for a checkpoint of another architecture lists every key on a few very long
lines, or, non-strict (the Runner's ``load_from``, hence also tools/test.py),
logs a warning and goes on with whatever fitted: a checkpoint of another
``num_classes`` then silently leaves the head at its random initialisation
and the scores are meaningless. Here the checkpoint is compared with the
model first, and the differences -- size mismatches (key, checkpoint shape,
model shape), missing keys, unexpected keys -- are listed a few of each with
counts. :func:`load_model_weights` (used by ``segkit.apis.init_model``)
raises on any difference unless ``strict=False``; :class:`CheckpointFitHook`
checks a Runner's ``load_from`` the same way before the Runner loads it.
"""
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Tuple

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import CheckpointLoader
from torch import nn

from segkit.registry import HOOKS

# Keys listed per kind of difference before "... and N more".
MAX_LISTED = 8
Shape = Tuple[int, ...]


class CheckpointMismatchError(ValueError, RuntimeError):
    """A checkpoint's tensors do not fit the model.

    A ``ValueError`` (the input is wrong) that is also a ``RuntimeError``,
    the type of the strict-load error ``init_model`` raised before, so code
    catching either keeps working.
    """


@dataclass
class LoadReport:
    """How a checkpoint's tensors match a model's, key by key.

    Attributes:
        checkpoint: the file.
        model: the model's class name.
        loaded: keys whose tensors fit (same name and shape).
        mismatched: ``(key, checkpoint shape, model shape)`` of keys in both
            with different shapes.
        missing: model keys the checkpoint lacks.
        unexpected: checkpoint keys the model lacks.
        meta: the checkpoint's ``meta`` (``dataset_meta``, epoch, ...).
    """
    checkpoint: str
    model: str
    loaded: List[str]
    mismatched: List[Tuple[str, Shape, Shape]]
    missing: List[str]
    unexpected: List[str]
    meta: Dict[str, Any] = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        """Every tensor of each side has its counterpart in the other."""
        return not (self.mismatched or self.missing or self.unexpected)

    def summary(self) -> str:
        """A few lines: the counts, then up to :data:`MAX_LISTED` keys of
        each kind of difference."""
        wanted = len(self.loaded) + len(self.mismatched) + len(self.missing)
        lines = [f'checkpoint {self.checkpoint} fits {len(self.loaded)} of '
                 f'the {wanted} tensors of {self.model}']
        if not self.loaded:
            lines[0] += (' (none: is it a checkpoint of another '
                         'architecture?)')
        sections = (
            (f'{len(self.mismatched)} size mismatch(es) (key: checkpoint '
             'shape -> model shape)',
             [f'{key}: {ckpt} -> {own}'
              for key, ckpt, own in self.mismatched]),
            (f'{len(self.missing)} missing key(s) (in the model, not in the '
             'checkpoint)', self.missing),
            (f'{len(self.unexpected)} unexpected key(s) (in the checkpoint, '
             'not in the model)', self.unexpected),
        )
        for title, keys in sections:
            if keys:
                lines.append(f'  {title}:')
                lines.extend(f'    {key}' for key in keys[:MAX_LISTED])
                if len(keys) > MAX_LISTED:
                    lines.append(f'    ... and {len(keys) - MAX_LISTED} more')
        return '\n'.join(lines)


def read_checkpoint(checkpoint: str, map_location: Any = 'cpu'
                    ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``(state_dict, meta)`` of a checkpoint, read by MMEngine's
    ``CheckpointLoader`` (weights-only, see ``segkit.engine.checkpoint``).

    Accepts a Runner checkpoint (``state_dict`` and ``meta``) or a bare
    state dict; a DDP ``module.`` prefix is removed, as MMEngine does.
    """
    loaded = CheckpointLoader.load_checkpoint(checkpoint, map_location)
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


def compare_state_dicts(model: nn.Module, state: Mapping[str, Any],
                        checkpoint: str) -> LoadReport:
    """Which of ``state``'s tensors fit ``model``, by key and shape."""
    own = model.state_dict()

    def shape(value: Any) -> Shape:
        return tuple(getattr(value, 'shape', ()))

    both = [key for key in own if key in state]
    return LoadReport(
        checkpoint=checkpoint,
        model=type(model).__name__,
        loaded=[k for k in both if shape(state[k]) == shape(own[k])],
        mismatched=[(k, shape(state[k]), shape(own[k])) for k in both
                    if shape(state[k]) != shape(own[k])],
        missing=[key for key in own if key not in state],
        unexpected=[key for key in state if key not in own])


def enforce_fit(report: LoadReport, strict: bool) -> None:
    """Raise :class:`CheckpointMismatchError` for a report that does not
    fit if ``strict``; otherwise log it as a warning."""
    if report.fits:
        return
    if strict:
        hint = (f'\nTo load the {len(report.loaded)} tensor(s) that fit and '
                "keep the model's own values for the rest, load with "
                'strict=False.' if report.loaded else '')
        raise CheckpointMismatchError(report.summary() + hint)
    print_log(report.summary() + '\nOnly the tensors that fit were loaded; '
              'the model keeps its own values for the rest.',
              logger='current', level=logging.WARNING)


def load_model_weights(model: nn.Module, checkpoint: str,
                       strict: bool = True,
                       map_location: Any = 'cpu') -> LoadReport:
    """Load a checkpoint's weights into ``model``.

    ``strict``: any size mismatch, missing or unexpected key raises
    :class:`CheckpointMismatchError` listing them, and nothing is loaded.
    Otherwise the tensors that fit are loaded and the rest is logged as a
    warning. Returns the report, whose ``meta`` is the checkpoint's.
    """
    state, meta = read_checkpoint(checkpoint, map_location)
    report = compare_state_dicts(model, state, checkpoint)
    report.meta = meta
    enforce_fit(report, strict)
    fitting = OrderedDict((key, state[key]) for key in report.loaded)
    fitting._metadata = state._metadata
    model.load_state_dict(fitting, strict=False)
    return report


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Check a Runner's ``load_from`` checkpoint against the model before
    the Runner loads it (``before_run`` comes first in ``train``, ``val``
    and ``test``).

    MMEngine loads ``load_from`` non-strictly, logging torch's list of
    differences and going on; with this hook a checkpoint that does not fit
    stops the run with :class:`CheckpointMismatchError` and a short list
    (``strict=True``), or is reported in that form (``strict=False``, for
    fine-tuning to another ``num_classes``). A resumed run is checked too.

    Args:
        strict: raise rather than warn.
    """

    priority = 'VERY_HIGH'

    def __init__(self, strict: bool = True) -> None:
        self.strict = strict

    def before_run(self, runner) -> None:
        # What load_or_resume will load; MMEngine has no public accessor.
        checkpoint = runner._load_from
        if not checkpoint:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        state, _ = read_checkpoint(checkpoint)
        enforce_fit(compare_state_dicts(model, state, checkpoint), self.strict)
