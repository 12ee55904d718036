"""How big a model is: parameters per module, FLOPs of one forward pass.

FLOPs are counted by torch's ``FlopCounterMode`` (convolutions and matrix
products, a multiply and an add counted apart, as ``tools/benchmark.py``
counts them) on a copy of the model on the ``meta`` device: shapes only, no
arithmetic, so a summary costs milliseconds even for a large network.
"""
import copy
from dataclasses import dataclass
from typing import List, Mapping, Optional, Tuple

import torch
from mmengine.model import BaseModel, is_model_wrapper
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class ModuleCost:
    """One module's parameters (its own and its children's) and FLOPs."""

    name: str
    params: int
    flops: int


@dataclass(frozen=True)
class ModelSummary:
    """A model's size for one input (see :func:`summarize_model`)."""

    model: str
    input_shape: Tuple[int, ...]
    params: int
    trainable: int
    flops: int
    modules: List[ModuleCost]


def network_input(model: nn.Module, image: Tensor) -> Tensor:
    """What the network sees for one image: ``image`` (a packed ``(C, H, W)``
    uint8 tensor) through the model's ``data_preprocessor`` (normalised,
    padded to its ``size_divisor``), as a batch of one."""
    preprocess = getattr(model, 'data_preprocessor', None)
    if preprocess is None:
        return image[None].float()
    with torch.no_grad():
        inputs = preprocess(dict(inputs=[image], data_samples=None),
                            False)['inputs']
    # MMEngine's BaseDataPreprocessor leaves the batch a list.
    return torch.stack(inputs) if isinstance(inputs, list) else inputs


def summarize_model(model: nn.Module, inputs: Tensor,
                    depth: int = 2) -> ModelSummary:
    """Parameters, and FLOPs of the ``tensor``-mode forward on ``inputs``.

    Args:
        model: An MMEngine model (``forward(inputs, data_samples, mode)``,
            run in ``tensor`` mode) or any module called as
            ``model(inputs)``; a DDP wrapper is unwrapped.
            It is copied to the ``meta`` device; the model itself is not
            run and not changed.
        inputs: The network input, ``(N, C, H, W)``; only its shape is used.
        depth: Modules down to this many levels below the model get a row.

    Returns:
        The totals, per image of the batch, and one :class:`ModuleCost` per
        module down to ``depth`` that has parameters or FLOPs.
    """
    if is_model_wrapper(model):
        model = model.module
    meta = copy.deepcopy(model).to('meta').eval()
    batch = torch.empty(inputs.shape, device='meta')
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        if isinstance(meta, BaseModel):
            meta(batch, None, mode='tensor')
        else:
            meta(batch)
    counted = {name: sum(ops.values())
               for name, ops in counter.get_flop_counts().items()}
    root = type(model).__name__
    images = max(inputs.shape[0], 1)

    def flops(name: str, module: nn.Module) -> int:
        # A container that is never called (ModuleList) has no entry of its
        # own: its FLOPs are those of its children.
        own = counted.get(f'{root}.{name}')
        if own is not None:
            return own
        return sum(flops(f'{name}.{child_name}', child)
                   for child_name, child in module.named_children())

    rows = []
    for name, module in model.named_modules():
        if not name or name.count('.') >= depth:
            continue
        row = ModuleCost(name, sum(p.numel() for p in module.parameters()),
                         flops(name, module) // images)
        if row.params or row.flops:
            rows.append(row)
    return ModelSummary(
        model=root, input_shape=tuple(inputs.shape[1:]),
        params=sum(p.numel() for p in model.parameters()),
        trainable=sum(p.numel() for p in model.parameters()
                      if p.requires_grad),
        flops=counted.get('Global', 0) // images, modules=rows)


def human(count: float, unit: str = '') -> str:
    """``1234567`` -> ``'1.23 M'``, ``human(1.6e10, 'FLOPs')`` ->
    ``'16 GFLOPs'``: three significant digits and an SI prefix."""
    for prefix, scale in (('T', 1e12), ('G', 1e9), ('M', 1e6), ('k', 1e3)):
        if abs(count) >= scale:
            return f'{count / scale:.3g} {prefix}{unit}'
    return f'{count:.3g} {unit}'.rstrip()


def shape_text(shape: Tuple[int, ...]) -> str:
    return 'x'.join(map(str, shape))


def summary_line(summary: ModelSummary) -> str:
    """The one line a run's log gives the model."""
    frozen = summary.params - summary.trainable
    return (f'{summary.model}: {human(summary.params)} parameters'
            + (f' ({human(frozen)} frozen)' if frozen else '')
            + f', {human(summary.flops, "FLOPs")} per '
            f'{shape_text(summary.input_shape)} input')


def summary_table(summary: ModelSummary) -> str:
    """Per-module rows (indented by depth) with shares of the totals, then
    the total."""
    def share(part: int, whole: int) -> str:
        return f'{100 * part / whole:.1f}%' if whole else '-'

    rows = [(('  ' * row.name.count('.')) + row.name, human(row.params),
             share(row.params, summary.params), human(row.flops),
             share(row.flops, summary.flops)) for row in summary.modules]
    rows.append(('total', human(summary.params), '100%',
                 human(summary.flops), '100%'))
    header = ('module', 'params', '', 'FLOPs', '')
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(5)]
    lines = ['  '.join([r[0].ljust(widths[0])] + [
        c.rjust(w) for c, w in zip(r[1:], widths[1:])]).rstrip()
        for r in [header] + rows]
    lines.insert(1, '-' * len(lines[0]))
    lines.insert(len(lines) - 1, '-' * len(lines[0]))
    return '\n'.join(lines)


def summary_facts(summary: ModelSummary) -> Mapping[str, object]:
    """The totals as JSON types (for a run's facts and the report)."""
    return dict(model=summary.model, params=summary.params,
                trainable=summary.trainable, flops=summary.flops,
                input_shape=list(summary.input_shape))


def weights_line(model: nn.Module) -> Optional[str]:
    """Where a model's backbone weights came from, once its
    ``init_weights`` ran: each pretrained source and how many tensors it
    gave (``BaseBackbone.weights_source``), else from scratch; ``None``
    for a model without a segkit backbone."""
    backbones = [module for module in model.modules()
                 if hasattr(module, 'weights_source')]
    if not backbones:
        return None
    sources = [b.weights_source for b in backbones if b.weights_source]
    return '; '.join(sources) or 'none: initialised from scratch'
