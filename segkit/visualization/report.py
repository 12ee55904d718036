"""One self-contained HTML page per run: what ran where, config, scores,
confusion matrix, where the model fails, curves, samples.

``write_report(run_dir)`` writes ``run_dir/report.html``: plain HTML with
inline CSS, one inline script (the panels' lightbox) and no external URL,
and every picture inside it as a ``data:`` URI (the curves and the
confusion matrix as drawn, the SegVisHook panels as thumbnails of at most
960 pixels, of the test and the last :data:`PANEL_STEPS` validations), so
the file alone, copied anywhere, shows everything. A click on a panel
shows it at its natural size in an overlay of the page; the overlay (and
the panel's link, without script) links to the full-size file, which
opens while the page sits in its run folder.

Besides ``vis_data/scalars.json`` and the config it reads what
``ReportHook`` records: ``run_info.json`` (machine, precision, versions,
commit, model size, data, wall time, a test run's checkpoint),
``evaluation.json`` (the last evaluation's confusion matrix and per-class
scores) and, for a test run, ``failures.json`` (the lowest-scored images
and a binary task's empty frames with false positives, with their panels
in ``vis_data/test_failures``).
"""
import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from mmengine.config import Config

from segkit.utils import atomic_write
from .confusion import render_confusion_png
from .curves import (BOOKKEEPING_KEYS, SCALARS_FILE, PathLike, Scalars,
                     build_curves, is_loss, json_object, load_scalars,
                     numeric, render_png)
from .embed import data_uri
from .html_parts import CSS, LIGHTBOX, img, muted, panel_figure, table
from .report_config import config_section
from .report_facts import facts_rows, loss_rows
from .report_failures import failures_section, most_confused_list

REPORT_FILE = 'report.html'
CONFIG_FILE = Path('vis_data') / 'config.py'
#: What ReportHook records for the report, in the run folder.
RUN_INFO_FILE = 'run_info.json'
EVALUATION_FILE = 'evaluation.json'
FAILURES_FILE = 'failures.json'
#: Where ReportHook draws the panels of the images failures.json names.
FAILURE_PANELS = Path('vis_data') / 'test_failures'
TEST_PANELS = 'test'
#: Validation steps whose panels the page embeds, the latest ones.
PANEL_STEPS = 3


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


def find_panels(run_dir: Path) -> List[Tuple[str, List[Path]]]:
    """SegVisHook's panels as ``(step, files)``: the test panels, then the
    validation steps latest first."""
    vis = run_dir / 'vis_data'
    steps = [d for d in vis.iterdir() if d.is_dir() and (
        d.name.isdecimal() or d.name == TEST_PANELS)] if vis.is_dir() else []
    steps.sort(key=lambda d: -1 if d.name == TEST_PANELS else -int(d.name))
    found = [(d.name, sorted(d.glob('*.png'))) for d in steps]
    return [(step, files) for step, files in found if files]


def _run_section(run_dir: Path, scalars: Optional[Scalars],
                 facts: Mapping[str, Any]) -> str:
    test = facts.get('mode') == 'test' or (not facts and scalars is None)
    rows = [('experiment', run_dir.parent.name), ('run', run_dir.name),
            ('kind', 'test' if test else 'training')]
    rows += facts_rows(facts)
    if scalars is not None and scalars.train:
        rows += loss_rows(scalars.train[-1], is_loss)
    return table((), rows, 'cfg', numeric_from=2)


def _per_class(evaluation: Evaluation,
               recorded: Mapping[str, Any]) -> Dict[str, Dict[str, float]]:
    """``{class: {metric: value}}``: the metrics' ``<metric>.<class>`` keys,
    then the per-class scores ``evaluation.json`` holds of the same (the
    last) evaluation: IoU, Dice, Acc, Precision from its confusion matrix."""
    per_class: Dict[str, Dict[str, float]] = {}
    for key, value in evaluation.final.items():
        if '.' in key:
            metric, name = key.split('.', 1)
            per_class.setdefault(name, {})[metric] = value
    for metric, values in (recorded.get('per_class') or {}).items():
        for name, value in zip(recorded.get('classes') or (), values):
            per_class.setdefault(str(name), {}).setdefault(
                metric, math.nan if value is None else float(value))
    return per_class


def _metrics_section(evaluation: Optional[Evaluation],
                     recorded: Mapping[str, Any]) -> str:
    if evaluation is None:
        return muted('The run logged no validation.')
    overall = [k for k in evaluation.final if '.' not in k]
    if evaluation.best:
        summary = table(
            ('metric', f'final ({evaluation.source})', 'best', 'best at'),
            [(k, _fmt(evaluation.final[k]),
              *((_fmt(evaluation.best[k][0]), _step(evaluation.best[k][1]))
                if k in evaluation.best else ('nan', '')))
             for k in overall])
    else:
        summary = table(('metric', evaluation.source),
                        [(k, _fmt(evaluation.final[k])) for k in overall])
    per_class = _per_class(evaluation, recorded)
    columns = list(dict.fromkeys(m for v in per_class.values() for m in v))
    classes = table(
        ['class'] + columns,
        [[name] + [_fmt(values.get(m, math.nan)) for m in columns]
         for name, values in per_class.items()]) if per_class else ''
    title = html.escape(evaluation.title)
    source = html.escape(evaluation.source)
    return (f'<h3>{title}</h3>{summary}' + (
        f'<h3>Per class ({source})</h3>{classes}' if classes else ''))


def _confusion_section(recorded: Mapping[str, Any]) -> str:
    if not recorded.get('confusion'):
        return muted('No confusion matrix recorded (ReportHook records the '
                     "one of IoUMetric or DiceMetric).")
    title = f'confusion matrix ({recorded.get("source", "")})'
    png = render_confusion_png(recorded['confusion'], recorded['classes'],
                               title)
    return ('<p class="muted">Each row is one ground-truth class, split by '
            'what was predicted for its pixels; the diagonal is the class '
            'accuracy (recall).</p>'
            + img(data_uri(png, 'image/png'), title, cls='matrix')
            + most_confused_list(recorded))


def _failures_part(run_dir: Path, failures: Mapping[str, Any],
                   recorded: Mapping[str, Any]) -> str:
    """The heading and section of ``failures.json``; nothing without it
    (a training run, or a test run with ``--worst 0``)."""
    if not failures:
        return ''
    return ('<h2 id="failures">Where the model fails</h2>'
            + failures_section(run_dir, failures,
                               recorded.get('classes') or ()))


def _curves_section(scalars: Optional[Scalars]) -> str:
    if scalars is None:
        return muted('No training curves (a test run).')
    figures = ''.join(  # each plot carries its own title: no caption
        ('<figure class="wide">' if len(c.series) > 10 else '<figure>')
        + img(data_uri(render_png(c), 'image/png'), c.title) + '</figure>'
        for c in build_curves(scalars))
    return f'<div class="grid">{figures}</div>'


def _gallery_section(run_dir: Path) -> str:
    panels = find_panels(run_dir)
    if not panels:
        return muted('No sample panels under vis_data/ (add SegVisHook to '
                     'the config to get some).')
    shown = [p for p in panels if p[0] == TEST_PANELS][:1] + [
        p for p in panels if p[0] != TEST_PANELS][:PANEL_STEPS]
    left_out = [step for step, _ in panels if (step, _) not in shown]

    page = ''.join(
        f'<h3>{"test" if step == TEST_PANELS else "step " + step}</h3>'
        '<div class="grid">'
        + ''.join(panel_figure(run_dir, p, p.stem) for p in files)
        + '</div>' for step, files in shown)
    if left_out:
        page += muted(f'Panels of {len(left_out)} earlier validation(s) '
                      f'(steps {", ".join(left_out)}) are in vis_data/ '
                      'beside this report.')
    return page


def _read_json(path: Path) -> Dict[str, Any]:
    """A sidecar JSON object, or ``{}`` where the run wrote none."""
    if not path.is_file():
        return {}
    return json_object(path.read_text(encoding='utf-8'), str(path))


def write_report(run_dir: PathLike,
                 cfg: Optional[Mapping[str, Any]] = None,
                 metrics: Optional[Mapping[str, Any]] = None,
                 facts: Optional[Mapping[str, Any]] = None) -> Path:
    """Write ``run_dir/report.html`` atomically and return its path.

    Args:
        run_dir: a run folder, ``work_dirs/<exp>/<timestamp>/``.
        cfg: the run's config; default: ``run_dir/vis_data/config.py``.
        metrics: test metrics (``Runner.test()``'s result); default: the
            validations in ``vis_data/scalars.json``, or for a tools/test.py
            run folder the metrics in ``<timestamp>.json``.
        facts: what the run depends on (see ``segkit.engine.run_facts``);
            default: ``run_dir/run_info.json`` if the run wrote one.
    """
    run_dir = Path(run_dir)
    scalars = load_scalars(run_dir) if (run_dir
                                        / SCALARS_FILE).is_file() else None
    evaluation = load_evaluation(run_dir, scalars, metrics)
    if cfg is None:
        config_file = run_dir / CONFIG_FILE
        cfg = Config.fromfile(config_file) if config_file.is_file() else {}
    if facts is None:
        facts = _read_json(run_dir / RUN_INFO_FILE)
    recorded = _read_json(run_dir / EVALUATION_FILE)
    failures = _read_json(run_dir / FAILURES_FILE)
    title = f'{run_dir.parent.name} / {run_dir.name}'
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} - segkit report</title>
<style>{CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
{_run_section(run_dir, scalars, facts)}
<h2>Config</h2>
{config_section(cfg, facts)}
<h2>Metrics</h2>
{_metrics_section(evaluation, recorded)}
<h2>Confusion matrix</h2>
{_confusion_section(recorded)}
{_failures_part(run_dir, failures, recorded)}
<h2>Curves</h2>
{_curves_section(scalars)}
<h2>Samples</h2>
{_gallery_section(run_dir)}
{LIGHTBOX}
</body></html>
"""
    path = run_dir / REPORT_FILE
    atomic_write(path, page.encode('utf-8'))
    return path
