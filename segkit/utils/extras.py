"""Optional dependencies: which ``pip install -e .[extra]`` brings each,
and one clear error when one is missing."""
import importlib
import importlib.util
from types import ModuleType

from .errors import SegkitUserError

# Importable module -> the setup.py extra that installs it.
EXTRAS = {
    'albumentations': 'albu',
    'onnx': 'deploy',
    'onnxruntime': 'deploy',
    'onnxscript': 'deploy',
    'wandb': 'wandb',
    'mlflow': 'mlflow',
}


class MissingExtraError(SegkitUserError, ImportError):
    """An optional package that a feature needs is not installed: the
    user's to fix, so tools print it as one line."""


def _missing(module: str, purpose: str) -> MissingExtraError:
    return MissingExtraError(
        f'{purpose} needs the optional package {module!r}, which is not '
        f"installed: pip install -e '.[{EXTRAS.get(module, module)}]'")


def check_extra(module: str, purpose: str) -> None:
    """Raise :class:`MissingExtraError` unless ``module`` is installed;
    nothing is imported (a config check stays cheap).

    Args:
        module: Top-level module name, a key of :data:`EXTRAS`.
        purpose: What needs it, for the message (e.g. "WandbVisBackend").
    """
    if importlib.util.find_spec(module) is None:
        raise _missing(module, purpose)


def import_extra(module: str, purpose: str) -> ModuleType:
    """``import module``, or :class:`MissingExtraError` naming the extra.

    Args:
        module: Module name; its top-level package is looked up in
            :data:`EXTRAS`.
        purpose: What needs it, for the message.
    """
    top = module.split('.')[0]
    if importlib.util.find_spec(top) is None:
        raise _missing(top, purpose)
    return importlib.import_module(module)
