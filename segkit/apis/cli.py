"""What every tool's command line shares: ``--cfg-options`` values that may
be whole dicts, and one clear line for the user's own mistakes.

A tool ends with ``run_tool(main)``. A :class:`~segkit.utils.SegkitUserError`
(a bad config key or value, a missing path, unreadable data, a checkpoint
that does not fit) is printed as ``error: <message>`` on stderr and the tool
exits with status 1, without a traceback; any other exception is a bug and
keeps its traceback. ``--debug`` or ``SEGKIT_DEBUG=1`` shows the traceback
of a user error too.
"""
import argparse
import ast
import os
import sys
from typing import Any, Callable, Dict, Optional, Sequence

from mmengine.config import DictAction

from segkit.engine.hooks.hook_config import configure_hook
from segkit.engine.resume import best_checkpoint
from segkit.models.segmentors.inference_modes import InferenceConfig
from segkit.utils import ConfigValueError, MissingPathError, SegkitUserError

DEBUG_FLAG = '--debug'
DEBUG_ENV = 'SEGKIT_DEBUG'
#: The end of a checkpoint-mismatch error's advice in the tools.
NO_STRICT_ADVICE = 'rerun with --no-strict'
# What a dict value may call: dict(a=1) as MMEngine configs write them.
_DICT_CALL = 'dict'
# What makes a value a Python literal rather than MMEngine's syntax.
_LITERAL_MARKS = (_DICT_CALL + '(', '{', "'", '"')


def add_debug_arg(parser: argparse.ArgumentParser) -> None:
    """``--debug``: what :func:`run_tool` reads to keep tracebacks."""
    parser.add_argument(
        DEBUG_FLAG, action='store_true',
        help=f'show the traceback of a user error too (or set {DEBUG_ENV}=1)')


def debug_requested(argv: Optional[Sequence[str]] = None) -> bool:
    """``--debug`` among the arguments, or ``SEGKIT_DEBUG`` set (not 0)."""
    argv = sys.argv[1:] if argv is None else argv
    return (DEBUG_FLAG in argv
            or os.environ.get(DEBUG_ENV, '0') not in ('', '0'))


def user_message(error: SegkitUserError) -> str:
    """The message of a user error, without the worker traceback torch
    prepends when it re-raises an error of a DataLoader worker."""
    message = str(error)
    if 'Original Traceback' not in message:
        return message
    cls = type(error)
    return message.rsplit(f'{cls.__module__}.{cls.__qualname__}: ',
                          1)[-1].rstrip()


def run_tool(main: Callable[[], Any]) -> None:
    """Run a tool's ``main``: a user error becomes one line on stderr and
    exit status 1; anything else propagates with its traceback.

    Args:
        main: The tool's entry point, called without arguments.
    """
    try:
        main()
    except SegkitUserError as error:
        if debug_requested():
            raise
        print(f'error: {user_message(error)}', file=sys.stderr)
        sys.exit(1)


def parse_override_value(text: str) -> Any:
    """A ``--cfg-options`` value: MMEngine's syntax (``1``, ``a,b``,
    ``[1,(2,3)]``, bare words as strings), plus whole dicts, as a config
    writes them: ``dict(mode='slide',crop_size=128)`` or ``{'mode': ...}``,
    nested and in lists, and quoted strings that stay strings:
    ``['0016E5','0006R0']``.

    MMEngine's parser recurses forever on ``dict(...)`` (it splits on the
    first comma outside brackets, and ``dict(`` opens one it never finds
    closed), and it strips quotes before reading numbers, so that ``'0016E5'``
    becomes ``1600000.0``. A value that holds a dict or a quote is therefore
    read as a Python literal.

    Raises:
        ValueError: unbalanced brackets, or a dict value that is not a
            literal.
    """
    if not any(mark in text for mark in _LITERAL_MARKS):
        try:
            return DictAction._parse_iterable(text)
        except AssertionError:  # MMEngine's check for balanced brackets
            raise ValueError('unbalanced brackets') from None
    try:
        return _literal(ast.parse(text.strip(), mode='eval').body)
    except SyntaxError as e:
        raise ValueError(f'not a Python literal ({e.msg})') from None


def _literal(node: ast.AST) -> Any:
    """Evaluate literals, containers, ``dict(k=v)`` and bare words (as
    strings), nothing else."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.UnaryOp) and isinstance(
            node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand)
        if isinstance(value, (int, float)):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(item) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_literal(k): _literal(v)
                for k, v in zip(node.keys, node.values)}
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == _DICT_CALL and not node.args
            and all(k.arg is not None for k in node.keywords)):
        return {k.arg: _literal(k.value) for k in node.keywords}
    raise ValueError(f'{ast.unparse(node)!r} is not a literal, a list, a '
                     'tuple or a dict')


class OverrideAction(argparse.Action):
    """``--cfg-options KEY=VALUE ...`` into a dict, values parsed by
    :func:`parse_override_value`; a malformed item is a usage error
    naming it."""

    def __call__(self, parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace,
                 values: Optional[Sequence[str]],
                 option_string: Optional[str] = None) -> None:
        options = dict(getattr(namespace, self.dest, None) or {})
        for item in values or ():
            key, sep, text = item.partition('=')
            if not sep or not key:
                parser.error(f'{option_string} {item!r}: expected KEY=VALUE, '
                             'e.g. train_cfg.max_iters=1000')
            try:
                options[key] = parse_override_value(text)
            except ValueError as e:
                parser.error(f'{option_string} {item}: {e}')
        setattr(namespace, self.dest, options)


def add_override_arg(parser: argparse.ArgumentParser, example: str) -> None:
    """``--cfg-options``, with ``example`` in its help."""
    parser.add_argument(
        '--cfg-options', nargs='+', action=OverrideAction, default={},
        metavar='KEY=VALUE',
        help=f'override config keys, e.g. {example}; a value may be a whole '
        "dict: \"model.test_cfg=dict(mode='slide',crop_size=512,"
        "stride=384)\"")


def add_strict_arg(parser: argparse.ArgumentParser) -> None:
    """``--strict/--no-strict``: whether a checkpoint must fit exactly."""
    parser.add_argument(
        '--strict', action=argparse.BooleanOptionalAction, default=True,
        help='refuse a checkpoint whose tensors do not all fit the model '
        '(default); --no-strict loads those that fit and lists the rest, '
        'e.g. to fine-tune onto another head')


def add_tta_args(parser: argparse.ArgumentParser) -> None:
    """``--tta`` (flip) and ``--tta-scales`` (multi-scale): together,
    mmsegmentation's ``--aug-test``."""
    parser.add_argument(
        '--tta', action='store_true',
        help='average the predictions of each image and its horizontal '
        'mirror (model.test_cfg.flip=True)')
    parser.add_argument(
        '--tta-scales', type=float, nargs='+', metavar='S',
        help='average the predictions of each image resized by these '
        'factors (model.test_cfg.scales), e.g. 0.75 1 1.25; with --tta, '
        'of their mirrors too (mmsegmentation\'s --aug-test: --tta '
        '--tta-scales 0.5 0.75 1 1.25 1.5 1.75)')


def tta_test_cfg(args: argparse.Namespace) -> Dict[str, Any]:
    """The ``test_cfg`` fields that :func:`add_tta_args`' flags set, checked.

    Args:
        args: Parsed arguments with ``tta`` and ``tta_scales``.

    Returns:
        ``flip`` and/or ``scales``, the ones given.

    Raises:
        ConfigValueError: a scale that is not a positive number.
    """
    fields: Dict[str, Any] = dict(flip=True) if args.tta else {}
    if args.tta_scales:
        fields['scales'] = args.tta_scales
    try:
        InferenceConfig(**fields)
    except ConfigValueError as error:
        raise ConfigValueError(f'--tta-scales: {error}') from None
    return fields


def configure_checkpoint_fit(cfg: Any, strict: bool) -> None:
    """Set the strictness of ``cfg``'s ``CheckpointFitHook`` (found by
    type; added if the config has none) and make its error name the flag.

    Args:
        cfg: A loaded config, changed in place.
        strict: The ``--strict/--no-strict`` value.
    """
    configure_hook(cfg, 'CheckpointFitHook', strict=strict,
                   relax=NO_STRICT_ADVICE)


#: What a model checkpoint may name (init_model).
MODEL_CHECKPOINT_FILES = ('a .pth file that tools/train.py wrote '
                          '(work_dirs/<config>/best_*.pth or iter_*.pth)')
#: What a checkpoint argument may name (test.py, infer.py).
CHECKPOINT_FILES = (f'{MODEL_CHECKPOINT_FILES} or an .onnx file from '
                    'tools/export.py')
#: What --load-from and --resume may name.
TRAINING_CHECKPOINT_FILES = ('a .pth file that tools/train.py wrote '
                             '(work_dirs/<config>/iter_*.pth)')


def require_file(path: str, what: str, expected: str) -> str:
    """``path`` if it is a file, else a one-line user error naming it and
    what was ``expected``."""
    if not os.path.isfile(path):
        raise MissingPathError(f'{what} not found: {path}: expected '
                               f'{expected}')
    return path


def resolve_checkpoint(path: str) -> str:
    """What ``tools/test.py`` scores: a checkpoint or ``.onnx`` file as
    given, or, for a work dir, the best checkpoint of the run that wrote
    its ``last_checkpoint`` (:func:`~segkit.engine.resume.best_checkpoint`).
    """
    if not os.path.isdir(path):
        return require_file(path, 'checkpoint', CHECKPOINT_FILES)
    best = best_checkpoint(path)
    print(f'checkpoint: {best}, the best of the last run in {path}')
    return best
