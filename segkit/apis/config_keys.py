"""Which keys a config accepts where: the check behind ``--cfg-options``.

MMEngine merges an override into the config whatever its key, so a misspelt
key is silently added and the run goes on without the change, or fails with
a ``TypeError`` once the whole Runner is built. Here every key is checked
before the merge against what the component at that place accepts: the keys
the config spells, plus the parameters of the class its ``type`` names
(looked up in segkit's registries, which fall back to MMEngine's), followed
through ``**kwargs`` to the parent classes and into config dataclasses
(``test_cfg`` -> ``InferenceConfig``) and ``TypedDict`` arguments
(``data_prefix``). A component that builds the configs of an argument
itself says how their ``type`` resolves in its ``config_types``
(``Albu``'s ``transforms`` are albumentations classes). Where nothing is
known about a place, any key passes.

The dataloaders' datasets are checked once more after the merge
(:func:`check_dataset_keys`), keys of the config file included: a config
that inherits another and changes the dataset's ``type`` keeps the keys the
old type took, which the new one would refuse with a ``TypeError``.
"""
import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from mmengine.config import Config
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from segkit.engine.runner import AUTO
from segkit.utils import ConfigValueError, SegkitUserError
from .component_args import accepted_params, registered_names, resolve_type
from .data_roots import DATALOADERS

# The keys an error message lists when none is close to the misspelt one.
MAX_SHOWN = 12


class ConfigKeyError(SegkitUserError, KeyError):
    """An override names a key the config and its components do not take."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


@dataclass(frozen=True)
class Place:
    """What a config dict at one place of the tree takes, besides its keys.

    Attributes:
        target: A class, function, dataclass or ``TypedDict`` whose
            parameters (fields) are the keys; ``None``: the ``type`` the
            dict names, else ``default_type``.
        default_type: The type the builder uses when the dict names none,
            or a function of the dict that returns it.
        extra: Keys the builder takes out before it calls the target.
        children: Places of some keys, where the target's parameters say
            too little (the Runner's dicts that may leave ``type`` out).
        default: The parameter's default, where the config leaves it out:
            a value that is not a dict (``betas=(0.9, 0.999)``) has no keys.
        types: What a ``type`` here and below names, where a component
            builds these configs itself (its ``config_types``); ``None``:
            segkit's registries.
    """
    target: Any = None
    default_type: Union[None, str, Callable[[dict], str]] = None
    extra: Tuple[str, ...] = ()
    children: Optional[Dict[str, 'Place']] = None
    default: Any = None
    types: Optional[Callable[[Any], Any]] = None


def _train_loop_type(node: dict) -> str:
    by_epoch = node.get('by_epoch', 'max_epochs' in node)
    return 'EpochBasedTrainLoop' if by_epoch else 'IterBasedTrainLoop'


#: What ``Runner.from_cfg`` builds from its top-level dicts that may leave
#: ``type`` out (``mmengine.runner.Runner.build_*``).
RUNNER_PLACES: Dict[str, Place] = {
    'train_cfg': Place(default_type=_train_loop_type, extra=('by_epoch', )),
    'val_cfg': Place(default_type='ValLoop'),
    'test_cfg': Place(default_type='TestLoop'),
    'optim_wrapper': Place(default_type='OptimWrapper',
                           extra=('constructor', 'paramwise_cfg')),
    'log_processor': Place(default_type='LogProcessor'),
    'visualizer': Place(default_type='Visualizer'),
    'randomness': Place(target=Runner.set_randomness),
    **{name: Place(target=DataLoader)
       for name in ('train_dataloader', 'val_dataloader', 'test_dataloader')},
}
TOP_LEVEL = Place(target=Runner, children=RUNNER_PLACES)
NOTHING_KNOWN = Place()


def _component(node: Any, place: Place) -> Tuple[Any, str]:
    """The target that decides a dict's keys, and how to name it."""
    if place.target is not None:
        return place.target, getattr(place.target, '__qualname__', '')
    if not isinstance(node, dict):
        node = {}
    type_name = node.get('type')
    if type_name is None and place.default_type is not None:
        type_name = (place.default_type(node) if callable(place.default_type)
                     else place.default_type)
    if type_name is None:
        return None, ''
    shown = type_name if isinstance(type_name, str) else getattr(
        type_name, '__name__', repr(type_name))
    return (place.types or resolve_type)(type_name), shown


def _options(node: Any, place: Place
             ) -> Tuple[Optional[Dict[str, Place]], str]:
    """The keys a dict at ``place`` takes, each with its place; ``None``
    when any key goes. Also the component's name, for messages."""
    spelled = dict.fromkeys(node, NOTHING_KNOWN) if isinstance(
        node, dict) else {}
    target, name = _component(node, place)
    if target is None:
        # A dict the config spells and no component explains is closed to
        # its own keys; of one it does not spell, nothing is known.
        unknown_type = isinstance(node, dict) and 'type' in node
        return (None if node is None or unknown_type else spelled), name
    params, complete = accepted_params(target)
    if not complete:
        return None, name
    types = getattr(target, 'config_types', {})
    keys = {key: Place(param.schema, default=param.default,
                       types=types.get(key, place.types))
            for key, param in params.items()}
    return {**spelled, **keys, **(place.children or {}),
            **dict.fromkeys(place.extra + ('_delete_', ), NOTHING_KNOWN),
            'type': Place(types=place.types)}, name


def _refuse(dotted_key: str, where: str, name: str, path: str, part: str,
            options: Dict[str, Place], node: Any) -> ConfigKeyError:
    """The error for ``part``, with the closest key at this place or, when
    none is close, in a component one level down (``model.base_channels``
    -> ``model.backbone.base_channels``)."""
    prefix = '' if where == 'the top level' else f'{where}.'
    hint = [prefix + match
            for match in difflib.get_close_matches(part, list(options), n=1)]
    if not hint:
        deeper = [(f'{prefix}{key}.{inner}', inner)
                  for key, child in (node or {}).items()
                  if isinstance(child, dict) and key in options
                  for inner in _options(child, options[key])[0] or ()]
        match = difflib.get_close_matches(part, [k for _, k in deeper], n=1)
        hint = [full for full, inner in deeper if inner in match][:1]
    shown = sorted(set(options) - {'type', '_delete_'})
    expected = ', '.join(shown[:MAX_SHOWN]) + (
        ', ...' if len(shown) > MAX_SHOWN else '')
    component = f' ({name})' if name else ''
    return ConfigKeyError(
        f"--cfg-options {dotted_key}: {where}{component} of {path} has no "
        f"key '{part}'" + (f"; did you mean '{hint[0]}'?" if hint else
                           f'; expected one of: {expected}'))


def check_override_key(cfg: Config, dotted_key: str, path: str,
                       value: Any = None) -> List[str]:
    """Refuse an override whose key no component at its place accepts.

    Args:
        cfg: The config the override goes into (not modified).
        dotted_key: ``--cfg-options`` key, e.g. ``model.test_cfg.mode``.
        path: The config file, for messages.
        value: The override's value; a dict's keys (and a list's dicts')
            are checked as if each were spelt out.

    Returns:
        The dotted keys of config dataclasses the override goes into (e.g.
        ``model.test_cfg``), to check their values after the merge with
        :func:`check_override_values`.

    Raises:
        ConfigKeyError: naming the key, the place and the component, with
            the closest valid name.
        ConfigValueError: a ``type`` in the value that no registry has.
    """
    node: Any = cfg._cfg_dict.to_dict()
    place = TOP_LEVEL
    parts = dotted_key.split('.')
    schemas = []
    for depth, part in enumerate(parts):
        where = '.'.join(parts[:depth]) or 'the top level'
        if isinstance(node, (list, tuple)):
            if not (part.isdigit() and int(part) < len(node)):
                raise ConfigKeyError(
                    f'--cfg-options {dotted_key}: {where} of {path} is a '
                    f'list of {len(node)}; expected an index 0 to '
                    f'{len(node) - 1}, got {part!r}')
            node = node[int(part)]
            continue
        if node is None and place.target is None and not isinstance(
                place.default, (dict, type(None))):
            raise ConfigKeyError(
                f'--cfg-options {dotted_key}: {where} of {path} is '
                f'{place.default!r} by default, not a dict, so it has no key '
                f'{part!r}')
        if node is not None and not isinstance(node, dict):
            raise ConfigKeyError(
                f'--cfg-options {dotted_key}: {where} of {path} is '
                f'{node!r}, not a dict, so it has no key {part!r}')
        options, name = _options(node, place)
        if options is None:
            return schemas
        if part not in options:
            raise _refuse(dotted_key, where, name, path, part, options, node)
        place = options[part]
        node = node.get(part) if isinstance(node, dict) else None
        if dataclasses.is_dataclass(place.target):
            schemas.append('.'.join(parts[:depth + 1]))
    _check_value(value, node, place, dotted_key, path)
    _check_value_type(value, place.default if node is None else node,
                      dotted_key, path)
    return schemas


def _kind(value: Any) -> Optional[str]:
    """What a scalar is, as a message says it; ``None``: not a scalar
    whose kind an override must keep."""
    if isinstance(value, bool):
        return 'a bool'
    if isinstance(value, (int, float)):
        return 'a number'
    return None


def _check_value_type(value: Any, current: Any, dotted_key: str,
                      path: str) -> None:
    """Refuse a value of another kind than the number or bool the key
    holds (or defaults to): ``lr=abc`` fails here, not as a ``TypeError``
    deep in the optimiser. ``None`` passes (it often means "off"), as do
    a number for a bool, ``'auto'`` (``default_hooks.logger.interval``
    takes it for a number) and any value for a key that holds something
    else."""
    expected = _kind(current)
    if (expected is None or value is None or value == AUTO
            or _kind(value) is not None):
        return
    raise ConfigValueError(
        f'--cfg-options {dotted_key}={value!r}: expected {expected}, like '
        f'its value in {path}, {current!r}')


def _check_value(value: Any, node: Any, place: Place, dotted_key: str,
                 path: str) -> None:
    """Check the keys of a dict (or a list of dicts) given as a value."""
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_value(item, None, Place(types=place.types),
                         f'{dotted_key}.{index}', path)
        return
    if not isinstance(value, dict):
        if dotted_key.rsplit('.', 1)[-1] == 'type':
            _check_type(value, dotted_key, place.types)
        return
    if 'type' in value:
        _check_type(value['type'], f'{dotted_key}.type', place.types)
    # The dict the value merges into, unless it replaces it (_delete_);
    # its own keys are what is checked, under the type it ends up with.
    kept = (node if isinstance(node, dict) and not value.get('_delete_')
            else None)
    if 'type' in value:
        kept = {**(kept or {}), 'type': value['type']}
    options, name = _options(kept, place)
    for key, item in value.items():
        if options is not None and key not in options:
            raise _refuse(f'{dotted_key}.{key}', dotted_key, name, path, key,
                          options, kept)
        child = (options[key] if options is not None else
                 Place(types=place.types))
        _check_value(item, (kept or {}).get(key), child,
                     f'{dotted_key}.{key}', path)


def check_dataset_keys(cfg: Config, path: str) -> None:
    """Refuse a key that a dataloader's dataset (or a dataset it wraps, as
    ``RepeatDataset`` and ``ConcatDataset`` do) does not take.

    Args:
        cfg: The merged config.
        path: The config file, for messages.

    Raises:
        ConfigKeyError: naming the key, the dataset's type, the closest key
            it takes and the keys it takes.
    """
    for name in DATALOADERS:
        _check_dataset((cfg.get(name) or {}).get('dataset'),
                       f'{name}.dataset', path)


def _check_dataset(node: Any, where: str, path: str) -> None:
    if not isinstance(node, dict):
        return
    target = resolve_type(node.get('type'))
    params, complete = (accepted_params(target) if target is not None else
                        ({}, False))
    unknown = [key for key in node if key not in params
               and key not in ('type', '_delete_')] if complete else []
    if unknown:
        key, name = unknown[0], node['type']
        close = difflib.get_close_matches(key, list(params), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ''
        raise ConfigKeyError(
            f'{path}: {where} has {key}={node[key]!r}, which {name} does not '
            f'take; {hint}it takes {", ".join(params)}. Remove it, or, if '
            'a _base_ config sets it, replace the inherited dataset whole: '
            "dataset=dict(_delete_=True, type=..., ...)")
    _check_dataset(node.get('dataset'), f'{where}.dataset', path)
    for index, child in enumerate(node.get('datasets') or ()):
        _check_dataset(child, f'{where}.datasets.{index}', path)


def _check_type(type_name: Any, dotted_key: str,
                types: Optional[Callable[[Any], Any]]) -> None:
    """Refuse a ``type`` no registry knows that is close to a registered
    name: a misspelling. A ``type`` far from every registered name passes,
    since not every ``type`` is a registry's (ProfilerHook's
    ``on_trace_ready=dict(type='log_trace')`` is a handler's name); one of a
    component still fails when the Runner builds it, as does one that
    ``types`` (a component's ``config_types``) should know."""
    if (types is not None or not isinstance(type_name, str)
            or resolve_type(type_name) is not None):
        return
    hint = difflib.get_close_matches(type_name, registered_names(), n=1)
    if hint:
        raise ConfigValueError(
            f'--cfg-options {dotted_key}={type_name}: no registered '
            f"component has that name; did you mean '{hint[0]}'?")


def check_override_values(cfg: Config, schema_keys: List[str],
                          path: str) -> None:
    """Build each config dataclass an override went into from the merged
    config, so a bad value fails now, naming the key, not when the model is
    built.

    Args:
        cfg: The merged config.
        schema_keys: What :func:`check_override_key` returned.
        path: The config file, for messages.

    Raises:
        ConfigValueError: a dataclass refused the merged values.
    """
    for dotted_key in dict.fromkeys(schema_keys):
        node: Any = cfg
        place = TOP_LEVEL
        for part in dotted_key.split('.'):
            if isinstance(node, (list, tuple)):
                node = node[int(part)]
                continue
            options, _ = _options(node, place)
            place = (options or {}).get(part, NOTHING_KNOWN)
            node = node.get(part)
        if not isinstance(node, dict) or not dataclasses.is_dataclass(
                place.target):
            continue
        try:
            place.target(**{k: v for k, v in node.items() if k != '_delete_'})
        except (TypeError, ValueError) as error:
            raise ConfigValueError(
                f'--cfg-options {dotted_key} of {path}: {error}') from None
