"""The report's "Config" section: the entries a reader compares runs by,
one line each (a component as ``Type(arg=...)``)."""
import html
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from mmengine.config import Config

from .html_parts import muted, table


def _brief(value: Any, depth: int) -> str:
    """A config value on one line: a component as ``Type(arg=...)``,
    expanded ``depth`` levels deep, then by its type alone."""
    if isinstance(value, Mapping):
        name = str(value.get('type', 'dict'))
        if depth <= 0:
            return name
        args = ', '.join(f'{k}={_brief(v, depth - 1)}'
                         for k, v in value.items() if k != 'type')
        return f'{name}({args})'
    if isinstance(value, (list, tuple)):
        return '[' + ', '.join(_brief(v, depth) for v in value) + ']'
    if value is None or isinstance(value, (str, int, float, bool)):
        return repr(value)
    return type(value).__name__  # a built object passed in place of a dict


def config_summary(
        cfg: Mapping[str, Any]) -> Dict[str, List[Tuple[str, str]]]:
    """The config entries a reader compares runs by, as ``(key, text)`` rows
    per section: the model's arguments, the data, the schedule."""
    def rows(keys: Sequence[str], depth: int) -> List[Tuple[str, str]]:
        return [(k, _brief(cfg[k], depth)) for k in keys
                if cfg.get(k) is not None]

    model = dict(cfg.get('model') or {})
    model_type = [('type', str(model.pop('type')))] if 'type' in model else []
    return {
        'Model': model_type + [(k, _brief(v, 1)) for k, v in model.items()],
        'Data': rows(('data_root', 'train_dataloader', 'val_dataloader',
                      'test_dataloader'), 2),
        'Schedule': rows(('train_cfg', 'optim_wrapper', 'param_scheduler',
                          'load_from', 'resume'), 2),
    }


def checkpoint_config(facts: Mapping[str, Any]) -> Optional[Config]:
    """The config a test run's checkpoint was trained with (MMEngine keeps
    its text in the checkpoint's meta), or ``None``."""
    text = (facts.get('checkpoint') or {}).get('config')
    if not text:
        return None
    try:
        return Config.fromstring(text, file_format='.py')
    except Exception:  # noqa: BLE001 -- a config of an older segkit
        return None


def config_section(cfg: Mapping[str, Any],
                   facts: Mapping[str, Any]) -> str:
    """Model, data and schedule of ``cfg`` as tables. A test run (its facts
    name a checkpoint) shows the schedule the checkpoint was trained with,
    not the one its config would train."""
    sections = config_summary(cfg)
    if facts.get('checkpoint') is not None:
        trained = checkpoint_config(facts)
        del sections['Schedule']
        sections["Schedule (the checkpoint's training run)"] = (
            config_summary(trained)['Schedule'] if trained is not None
            else [])
    sections = {name: rows for name, rows in sections.items() if rows}
    if not sections:
        return muted('No config recorded for this run.')
    return ''.join(
        f'<h3>{html.escape(name)}</h3>' + table(('key', 'value'), rows,
                                                'cfg', numeric_from=2)
        for name, rows in sections.items())
