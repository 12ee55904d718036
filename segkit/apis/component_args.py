"""What a config component accepts: the class a ``type`` names, and the
arguments of that class, read from its signatures.

Used by :mod:`segkit.apis.config_keys` to check ``--cfg-options`` keys
against what each component takes, not only what its config spells out.
"""
import dataclasses
import inspect
import typing
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from mmengine.registry import DefaultScope, Registry

import segkit.registry as segkit_registry

# Scope of the registries components are looked up in, as the tools run.
SCOPE = 'segkit'


class Param(NamedTuple):
    """One argument a component accepts.

    Attributes:
        schema: A dataclass or ``TypedDict`` its value follows (its fields
            are the keys below it), else ``None``.
        default: Its default (``None`` when it has none).
    """
    schema: Any = None
    default: Any = None


def _registries() -> List[Registry]:
    return [value for value in vars(segkit_registry).values()
            if isinstance(value, Registry) and value.scope == SCOPE]


def resolve_type(type_name: Any) -> Optional[Any]:
    """The class (or function) a config ``type`` names, from segkit's
    registries and their MMEngine parents; ``None`` if none has it."""
    if not isinstance(type_name, str):
        return type_name if callable(type_name) else None
    with DefaultScope.overwrite_default_scope(SCOPE):
        for registry in _registries():
            try:
                found = registry.get(type_name)
            except RuntimeError:  # a dotted name that imports nothing
                found = None
            if found is not None:
                return found
    return None


def registered_names() -> List[str]:
    """Every name a config ``type`` may take, for suggestions."""
    names = set()
    for registry in _registries():
        while registry is not None:
            names.update(registry.module_dict)
            registry = registry.parent
    return sorted(names)


def schema_in(annotation: Any) -> Any:
    """A dataclass or ``TypedDict`` inside an annotation (``Optional``,
    ``Union``), else ``None``."""
    if inspect.isclass(annotation) and (
            dataclasses.is_dataclass(annotation)
            or typing.is_typeddict(annotation)):
        return annotation
    for arg in typing.get_args(annotation):
        found = schema_in(arg)
        if found is not None:
            return found
    return None


def _init_functions(target: Any) -> Tuple[List[Callable], bool]:
    """The functions whose parameters ``target`` accepts, and whether that
    is all: a class's ``__init__``, then, while one takes ``**kwargs``, the
    next one up the MRO. Reaching ``object`` means the ``**kwargs`` go
    somewhere this cannot see."""
    if not inspect.isclass(target):
        return [target], True
    functions = []
    for cls in target.__mro__:
        init = cls.__dict__.get('__init__')
        if init is None:
            continue
        if cls is object:
            return functions, False
        functions.append(init)
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):  # no signature to read
            return functions, False
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return functions, True
    return functions, False


def _parameter_schemas(function: Callable) -> Dict[str, Any]:
    """``{parameter: dataclass or TypedDict}`` from annotations and
    defaults."""
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # unresolvable forward references: no schemas
        hints = {}
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return {}
    found = {}
    for name, param in params.items():
        schema = schema_in(hints.get(name))
        if schema is None and dataclasses.is_dataclass(param.default):
            schema = type(param.default)
        if schema is not None:
            found[name] = schema
    return found


def accepted_params(target: Any) -> Tuple[Dict[str, Param], bool]:
    """The arguments ``target`` accepts, and whether those are all of them.

    Args:
        target: A class (its ``__init__``, followed through ``**kwargs``
            up the MRO), a function (its parameters), a dataclass or a
            ``TypedDict`` (its fields).

    Returns:
        ``({name: Param}, complete)``; ``complete`` is ``False`` when
        ``**kwargs`` lead somewhere that cannot be read, so any other name
        may be accepted too.
    """
    if dataclasses.is_dataclass(target):
        hints = typing.get_type_hints(target)
        return {f.name: Param(schema_in(hints.get(f.name)))
                for f in dataclasses.fields(target)}, True
    if typing.is_typeddict(target):
        return {name: Param(schema_in(hint)) for name, hint in
                typing.get_type_hints(target).items()}, True
    functions, complete = _init_functions(target)
    names = [name for function in functions
             for name, param in inspect.signature(function).parameters.items()
             if name != 'self' and param.kind in (param.POSITIONAL_OR_KEYWORD,
                                                  param.KEYWORD_ONLY)]
    # A subclass may re-declare a parameter with a looser annotation
    # (``test_cfg: dict``) than the base that builds it: any __init__ up
    # the MRO may say what the value is.
    everywhere = [cls.__dict__['__init__'] for cls in target.__mro__[:-1]
                  if '__init__' in cls.__dict__
                  ] if inspect.isclass(target) else functions
    schemas: Dict[str, Any] = {}
    for function in everywhere:
        for name, schema in _parameter_schemas(function).items():
            schemas.setdefault(name, schema)
    defaults = {name: param.default for function in reversed(functions)
                for name, param in inspect.signature(
                    function).parameters.items()
                if param.default is not param.empty}
    return {name: Param(schemas.get(name), defaults.get(name))
            for name in names}, complete
