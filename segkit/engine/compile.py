"""``torch.compile`` of a segmentor's network, falling back to eager."""
import logging
from typing import Any, Callable, List

import torch
import torch.nn as nn
from mmengine.logging import print_log

from segkit.utils import root_cause

#: The parts of an EncoderDecoder that are compiled, each on its own: the
#: data preprocessing, the losses and the optimiser step stay eager.
NETWORK_PARTS = ('backbone', 'neck', 'decode_head', 'auxiliary_head')


class CompiledOrEager:
    """A module's ``forward`` compiled, and its eager ``forward`` as the
    fallback: if the compiled call raises and the eager one does not, the
    compiler was at fault. One warning line names the cause, and the
    module runs eager from then on. An error eager raises too is the
    caller's own and propagates.

    Args:
        module: the module whose ``forward`` this replaces.
        compile_kwargs: ``torch.compile`` arguments.
    """

    def __init__(self, module: nn.Module, **compile_kwargs: Any) -> None:
        self.name = type(module).__name__
        self.eager: Callable = module.forward
        self.compiled: Any = torch.compile(self.eager, **compile_kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.compiled is None:
            return self.eager(*args, **kwargs)
        try:
            return self.compiled(*args, **kwargs)
        except Exception as error:  # noqa: B902 -- retried eagerly below
            output = self.eager(*args, **kwargs)
            print_log(
                f'torch.compile of {self.name} failed, running it eager: '
                f'{root_cause(error)}',
                logger='current',
                level=logging.WARNING)
            self.compiled = None
            return output


def compile_network(model: nn.Module, **compile_kwargs: Any) -> List[str]:
    """Compile ``model``'s network in place: the :data:`NETWORK_PARTS` it
    has (each of a ``ModuleList`` of auxiliary heads), else its whole
    ``forward``. Compiling twice is a no-op.

    Args:
        model: the segmentor, unwrapped from DDP.
        **compile_kwargs: ``torch.compile`` arguments, e.g. ``mode``.

    Returns:
        The names of the parts compiled.
    """
    parts = []
    for name in NETWORK_PARTS:
        part = getattr(model, name, None)
        if isinstance(part, nn.ModuleList):
            parts += [(f'{name}.{i}', head) for i, head in enumerate(part)]
        elif isinstance(part, nn.Module):
            parts.append((name, part))
    parts = parts or [(type(model).__name__, model)]
    for _, module in parts:
        if not isinstance(module.forward, CompiledOrEager):
            module.forward = CompiledOrEager(module, **compile_kwargs)
    return [name for name, _ in parts]
