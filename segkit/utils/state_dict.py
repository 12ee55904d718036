"""How a state dict fits a model: the one comparison every loader uses."""
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Tuple

from mmengine.logging import print_log
from torch import nn

from .errors import SegkitUserError
from .messages import listing

Shape = Tuple[int, ...]


class CheckpointMismatchError(SegkitUserError, ValueError, RuntimeError):
    """A checkpoint's tensors do not fit the model.

    A user error and a ``ValueError`` (the input is wrong) that is also a
    ``RuntimeError``, the type of torch's strict-load error, so code catching
    either works.
    """


@dataclass
class LoadReport:
    """How a checkpoint's tensors match a model's, key by key.

    Attributes:
        checkpoint: The file.
        model: The model's class name.
        loaded: Keys whose tensors fit (same name and shape).
        mismatched: ``(key, checkpoint shape, model shape)`` of keys in both
            with different shapes.
        missing: Model keys the checkpoint lacks.
        unexpected: Checkpoint keys the model lacks.
        meta: The checkpoint's ``meta`` (``dataset_meta``, iteration, ...).
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
        """The counts, then the first keys of each kind of difference."""
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
                lines.append(f'  {title}:' + listing(keys, indent='    '))
        return '\n'.join(lines)


def compare_state_dicts(model: nn.Module, state: Mapping[str, Any],
                        checkpoint: str) -> LoadReport:
    """Which of ``state``'s tensors fit ``model``, by key and shape.

    Args:
        model: The module to load into.
        state: Key to tensor, in the model's key names.
        checkpoint: What to call the source in messages (usually its path).

    Returns:
        The report; its ``meta`` is empty.
    """
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


def enforce_fit(report: LoadReport, strict: bool,
                relax: str = 'load with strict=False') -> None:
    """Raise for a report that does not fit if ``strict``, else warn.

    Args:
        report: What :func:`compare_state_dicts` found.
        strict: Raise :class:`CheckpointMismatchError` rather than log.
        relax: How the caller's user turns ``strict`` off, the end of the
            error's advice: a tool says ``'rerun with --no-strict'``.

    Raises:
        CheckpointMismatchError: ``strict`` and the report does not fit.
    """
    if report.fits:
        return
    if strict:
        hint = (f'\nTo load the {len(report.loaded)} tensor(s) that fit and '
                f"keep the model's own values for the rest, {relax}."
                if report.loaded else '')
        raise CheckpointMismatchError(report.summary() + hint)
    print_log(report.summary() + '\nOnly the tensors that fit were loaded; '
              'the model keeps its own values for the rest.',
              logger='current', level=logging.WARNING)
