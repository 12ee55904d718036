"""What a tool's flag sets on a hook of the config, found by its type."""
from typing import Any

from mmengine.config import Config


def configure_hook(cfg: Config, name: str, **args: Any) -> None:
    """Set ``args`` on every ``custom_hooks`` entry of type ``name`` (spelt
    ``name``, ``segkit.name`` or given as the class), adding
    ``dict(type=name)`` if the config has none.

    Args:
        cfg: A loaded config, changed in place.
        name: The hook's registered name, e.g. ``'SegVisHook'``.
        **args: The hook's arguments to set.
    """
    def is_hook(entry: Any) -> bool:
        kind = entry.get('type') if isinstance(entry, dict) else None
        return getattr(kind, '__name__', kind) in (name, f'segkit.{name}')

    hooks = list(cfg.get('custom_hooks') or [])
    if not any(is_hook(hook) for hook in hooks):
        hooks.append(dict(type=name))
    cfg.custom_hooks = [dict(hook, **args) if is_hook(hook) else hook
                        for hook in hooks]
