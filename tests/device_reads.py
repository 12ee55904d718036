"""Count the host reads of device tensors on a machine without a GPU.

On the CPU nothing waits for a device, so every ``Tensor.item()`` is free
and a synchronisation that would stall a GPU goes unnoticed. The counter
stands in for the device: a tensor counts as *on the device* if it is a
model parameter or buffer, comes out of the model's data preprocessor (the
batch after its copy to the device), or is computed by a torch function
from such a tensor (a ``TorchFunctionMode`` passes the mark on). Reading
one on the host -- ``item``, ``bool``, ``float``, ``int``, ``index``,
``tolist``, ``cpu``, ``numpy`` -- is a read that would wait for a GPU.

Not counted, because they are not device reads: tensors the data pipeline
builds on the CPU (MMEngine's ``stack_batch`` reads the CPU tensor of
image sizes it makes), the CPU step counters torch's optimisers keep, and
tensors made from host values alone. A device tensor made from host values
(``torch.tensor(x, device='cuda')``) and read back is missed here; the
CUDA test under ``torch.cuda.set_sync_debug_mode('error')`` catches it.
"""
import collections
import traceback
from typing import Any, Callable, Counter, Tuple

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

_MARK = '_counted_as_on_device'
_READS = frozenset({
    torch.Tensor.item, torch.Tensor.__bool__, torch.Tensor.__float__,
    torch.Tensor.__int__, torch.Tensor.__index__, torch.Tensor.tolist,
    torch.Tensor.cpu, torch.Tensor.numpy
})


def mark_on_device(*objects: Any) -> None:
    """Mark every tensor in ``objects`` (nested lists, tuples, dicts and
    the fields of data samples) as on the device."""
    for value in tree_flatten(objects)[0]:
        if isinstance(value, torch.Tensor):
            setattr(value, _MARK, True)
        elif hasattr(value, 'values') and callable(value.values):
            mark_on_device(list(value.values()))


class DeviceReadCounter(TorchFunctionMode):
    """Count reads of on-device tensors while :attr:`counting` is true.

    ``sites`` counts them by ``(read, file, line)`` of the code that read.
    Use as a context manager around the whole run, so that the mark
    reaches tensors made before counting starts (optimiser state).
    """

    def __init__(self) -> None:
        super().__init__()
        self.counting = False
        self.sites: Counter[Tuple[str, str, int]] = collections.Counter()

    @property
    def total(self) -> int:
        return sum(self.sites.values())

    def __torch_function__(self, func: Callable, types, args=(),
                           kwargs=None):
        kwargs = kwargs or {}
        on_device = any(
            getattr(value, _MARK, False)
            for value in tree_flatten((args, kwargs))[0]
            if isinstance(value, torch.Tensor))
        if on_device and self.counting and func in _READS:
            caller = traceback.extract_stack(limit=2)[0]
            self.sites[func.__name__, caller.filename, caller.lineno] += 1
        result = func(*args, **kwargs)
        if on_device:
            for value in tree_flatten(result)[0]:
                if isinstance(value, torch.Tensor):
                    setattr(value, _MARK, True)
        return result

    def report(self) -> str:
        """One line per read site, most frequent first."""
        return '\n'.join(f'{count:5d}  {name} at {path}:{line}'
                         for (name, path, line), count in
                         self.sites.most_common())
