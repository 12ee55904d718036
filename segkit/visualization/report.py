"""One self-contained HTML page per run: config, scores, curves, samples.

``write_report(run_dir)`` writes ``run_dir/report.html``: plain HTML with
inline CSS, no JavaScript and no external URL, so it opens from disk with no
server and no network. The curves are embedded as base64 PNG data URIs. The
SegVisHook panels (``vis_data/<step>/*.png``, ``vis_data/test/*.png``) are
linked relatively instead: a long run holds hundreds of full-size panels and
embedding them would make the page tens of MB. Move or archive the run
folder as a whole (not the file alone) and the gallery keeps working.
"""
import base64
import html
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote

from mmengine.config import Config

from segkit.utils import atomic_write
from segkit.visualization.curves import (BOOKKEEPING_KEYS, SCALARS_FILE,
                                         PathLike, Scalars, build_curves,
                                         is_loss, json_object, load_scalars,
                                         numeric, render_png)

REPORT_FILE = 'report.html'
CONFIG_FILE = Path('vis_data') / 'config.py'
TEST_PANELS = 'test'

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;color:#1d1d1f;background:#fff;
 max-width:1280px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}
h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;
 margin-top:32px}
h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;
 vertical-align:top}
th{background:#f5f5f7}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.cfg td{font-family:ui-monospace,monospace;font-size:12px;
 word-break:break-word}
table.cfg td:first-child{white-space:nowrap;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));
 gap:12px}
figure{margin:0}
figure img{width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:12px;color:#555;word-break:break-all}
.muted{color:#777}
"""


@dataclass(frozen=True)
class Evaluation:
    """The scores a report shows.

    ``final`` maps every metric key to its last value (validation) or its
    value (test); ``best`` maps a key to ``(value, step)`` over all
    validations, and is empty for a test run.
    """

    title: str
    source: str
    final: Dict[str, float]
    best: Dict[str, Tuple[float, float]]


def _metric_values(record: Mapping[str, Any]) -> Dict[str, float]:
    """Metric values only: MMEngine's bookkeeping and non-scalars dropped."""
    return {k: v for k, v in numeric(record).items()
            if k not in BOOKKEEPING_KEYS}


def _best(scalars: Scalars) -> Dict[str, Tuple[float, float]]:
    """Per metric, its best ``(value, step)``: lowest for a ``*loss*`` key,
    highest otherwise (IoU, Dice, accuracy); NaNs never win."""
    best: Dict[str, Tuple[float, float]] = {}
    for record, step in zip(scalars.val, scalars.val_steps):
        for key, value in _metric_values(record).items():
            if math.isnan(value):
                continue
            lower = 'loss' in key.lower()
            if key not in best or (value < best[key][0] if lower else
                                   value > best[key][0]):
                best[key] = (value, step)
    return best


def _step(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def _fmt(value: float) -> str:
    return 'nan' if math.isnan(value) else f'{value:.4f}'


def load_evaluation(run_dir: Path, scalars: Optional[Scalars],
                    metrics: Optional[Mapping[str, Any]]) -> Optional[
                        Evaluation]:
    """Test ``metrics`` when given; else the run's validations; else the
    test metrics MMEngine's LoggerHook dumps to ``run_dir/<run>.json`` in
    a tools/test.py run. ``None`` for a training run that never validated.
    """
    if metrics is not None:
        return Evaluation('Test metrics', 'test', _metric_values(metrics), {})
    if scalars is not None:
        if not scalars.val:
            return None
        return Evaluation(
            'Validation metrics',
            f'validation at {scalars.val_axis} {_step(scalars.val_steps[-1])}',
            _metric_values(scalars.val[-1]), _best(scalars))
    test_json = run_dir / f'{run_dir.name}.json'
    if not test_json.is_file():
        raise FileNotFoundError(
            f'nothing to report in {run_dir}: neither {SCALARS_FILE} (a '
            f'training run) nor {test_json.name} (a test run) exists')
    logged = json_object(test_json.read_text(encoding='utf-8'),
                         str(test_json))
    return Evaluation('Test metrics', 'test', _metric_values(logged), {})


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


def config_summary(cfg: Mapping[str, Any]) -> Dict[str, List[Tuple[str,
                                                                    str]]]:
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


def find_panels(run_dir: Path) -> List[Tuple[str, List[Path]]]:
    """SegVisHook's panels as ``(step, files)``: the test panels, then the
    validation steps latest first."""
    vis = run_dir / 'vis_data'
    steps = [d for d in vis.iterdir() if d.is_dir() and (
        d.name.isdecimal() or d.name == TEST_PANELS)] if vis.is_dir() else []
    steps.sort(key=lambda d: -1 if d.name == TEST_PANELS else -int(d.name))
    found = [(d.name, sorted(d.glob('*.png'))) for d in steps]
    return [(step, files) for step, files in found if files]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]],
           cls: str = '', numeric_from: int = 1) -> str:
    """An escaped HTML table (no header row when ``header`` is empty);
    columns from ``numeric_from`` on are right-aligned."""
    def cells(row: Sequence[str], tag: str) -> str:
        return ''.join(
            f'<{tag} class="num">{html.escape(c)}</{tag}>'
            if tag == 'td' and i >= numeric_from else
            f'<{tag}>{html.escape(c)}</{tag}>' for i, c in enumerate(row))

    body = ''.join(f'<tr>{cells(r, "td")}</tr>' for r in rows)
    head = f'<tr>{cells(header, "th")}</tr>' if header else ''
    return f'<table class="{cls}">{head}{body}</table>'


def _img(src: str, alt: str) -> str:
    return f'<img src="{html.escape(src)}" alt="{html.escape(alt)}">'


def _run_section(run_dir: Path, scalars: Optional[Scalars]) -> str:
    rows = [('experiment', run_dir.parent.name), ('run', run_dir.name),
            ('generated', time.strftime('%Y-%m-%d %H:%M:%S'))]
    if scalars is not None and scalars.train:
        last = scalars.train[-1]
        rows.append(('last logged iteration', _step(last['iter'])))
        rows += [(f'final {k}', _fmt(v)) for k, v in last.items()
                 if is_loss(k)]
    return _table((), rows, 'cfg', numeric_from=2)


def _config_section(cfg: Mapping[str, Any]) -> str:
    sections = {name: rows for name, rows in config_summary(cfg).items()
                if rows}
    if not sections:
        return '<p class="muted">No config recorded for this run.</p>'
    return ''.join(
        f'<h3>{name}</h3>' + _table(('key', 'value'), rows, 'cfg',
                                    numeric_from=2)
        for name, rows in sections.items())


def _metrics_section(evaluation: Optional[Evaluation]) -> str:
    if evaluation is None:
        return '<p class="muted">The run logged no validation.</p>'
    overall = [k for k in evaluation.final if '.' not in k]
    if evaluation.best:
        summary = _table(
            ('metric', f'final ({evaluation.source})', 'best', 'best at'),
            [(k, _fmt(evaluation.final[k]),
              *((_fmt(evaluation.best[k][0]), _step(evaluation.best[k][1]))
                if k in evaluation.best else ('nan', '')))
             for k in overall])
    else:
        summary = _table(('metric', evaluation.source),
                         [(k, _fmt(evaluation.final[k])) for k in overall])
    # Per-class keys are '<metric>.<class>' (IoU.Sky, Acc.Sky, ...).
    per_class: Dict[str, Dict[str, float]] = {}
    for key, value in evaluation.final.items():
        if '.' in key:
            metric, name = key.split('.', 1)
            per_class.setdefault(name, {})[metric] = value
    columns = list(dict.fromkeys(m for v in per_class.values() for m in v))
    table = _table(
        ['class'] + columns,
        [[name] + [_fmt(values.get(m, math.nan)) for m in columns]
         for name, values in per_class.items()]) if per_class else ''
    title = html.escape(evaluation.title)
    source = html.escape(evaluation.source)
    return (f'<h3>{title}</h3>{summary}' + (
        f'<h3>Per class ({source})</h3>{table}' if table else ''))


def _curves_section(scalars: Optional[Scalars]) -> str:
    if scalars is None:
        return '<p class="muted">No training curves (a test run).</p>'
    figures = ''.join(  # each plot carries its own title: no caption
        '<figure>' + _img('data:image/png;base64,' + base64.b64encode(
            render_png(c)).decode('ascii'), c.title) + '</figure>'
        for c in build_curves(scalars))
    return f'<div class="grid">{figures}</div>'


def _gallery_section(run_dir: Path) -> str:
    panels = find_panels(run_dir)
    if not panels:
        return ('<p class="muted">No sample panels under vis_data/ '
                '(add SegVisHook to the config to get some).</p>')
    def figure(panel: Path) -> str:
        src = quote(panel.relative_to(run_dir).as_posix())
        return (f'<figure><a href="{html.escape(src)}">'
                f'{_img(src, panel.stem)}</a><figcaption>'
                f'{html.escape(panel.stem)}</figcaption></figure>')

    return ''.join(
        f'<h3>{"test" if step == TEST_PANELS else "step " + step}</h3>'
        f'<div class="grid">{"".join(figure(p) for p in files)}</div>'
        for step, files in panels)


def write_report(run_dir: PathLike,
                 cfg: Optional[Mapping[str, Any]] = None,
                 metrics: Optional[Mapping[str, Any]] = None) -> Path:
    """Write ``run_dir/report.html`` atomically and return its path.

    Args:
        run_dir: a run folder, ``work_dirs/<exp>/<timestamp>/``.
        cfg: the run's config; default: ``run_dir/vis_data/config.py``.
        metrics: test metrics (``Runner.test()``'s result); default: the
            validations in ``vis_data/scalars.json``, or for a tools/test.py
            run folder the metrics in ``<timestamp>.json``.
    """
    run_dir = Path(run_dir)
    scalars = load_scalars(run_dir) if (run_dir
                                        / SCALARS_FILE).is_file() else None
    evaluation = load_evaluation(run_dir, scalars, metrics)
    if cfg is None:
        config_file = run_dir / CONFIG_FILE
        cfg = Config.fromfile(config_file) if config_file.is_file() else {}
    title = f'{run_dir.parent.name} / {run_dir.name}'
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} - segkit report</title>
<style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
{_run_section(run_dir, scalars)}
<h2>Config</h2>
{_config_section(cfg)}
<h2>Metrics</h2>
{_metrics_section(evaluation)}
<h2>Curves</h2>
{_curves_section(scalars)}
<h2>Samples</h2>
{_gallery_section(run_dir)}
</body></html>
"""
    path = run_dir / REPORT_FILE
    atomic_write(path, page.encode('utf-8'))
    return path
