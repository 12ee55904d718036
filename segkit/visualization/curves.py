"""Training curves from a run's ``vis_data/scalars.json``.

MMEngine's ``LoggerHook`` appends one JSON object per line to that file:
training lines (``loss*``, ``lr``, ``iter``, ``step``, ...) every logging
interval and one validation line (the metrics and ``step``) per validation.
This module reads it back and draws one PNG for the training losses, one for
the learning rate, one per overall validation metric (``mIoU``) and one per
per-class metric (``IoU.<class>`` for every class, overlaid on one axis),
with matplotlib's Agg canvas only (no pyplot state, no display needed).
"""
import io
import json
import numbers
import re
from dataclasses import dataclass
from pathlib import Path
from typing import (Any, Dict, List, Mapping, Optional, Sequence, Tuple,
                    Union)

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from segkit.utils import atomic_write

SCALARS_FILE = Path('vis_data') / 'scalars.json'
# Written by MMEngine next to the values; they index a line, they are not
# curves of their own.
BOOKKEEPING_KEYS = frozenset(
    {'step', 'iter', 'epoch', 'time', 'data_time', 'memory'})

# Series beyond this many (ADE20K's 150 classes) get no legend.
MAX_LEGEND = 48

Record = Dict[str, float]
PathLike = Union[str, Path]


@dataclass(frozen=True)
class Scalars:
    """A run's logged scalars, split into training and validation lines.

    Training lines carry the global iteration in ``iter``. ``val_steps``
    (one per validation line) count ``val_axis``: ``'epoch'`` for an
    epoch-based run logging metrics by epoch, else ``'iteration'``.
    """

    path: Path
    train: List[Record]
    val: List[Record]
    val_axis: str
    val_steps: List[float]


@dataclass(frozen=True)
class Curve:
    """One figure: ``series`` maps a legend label to its ``(x, y)``."""

    name: str
    title: str
    xlabel: str
    series: Dict[str, Tuple[List[float], List[float]]]


def numeric(record: Mapping[str, Any]) -> Dict[str, float]:
    """The real-valued entries (JSON numbers, numpy scalars) as floats."""
    return {k: float(v) for k, v in record.items()
            if isinstance(v, numbers.Real) and not isinstance(v, bool)}


def is_loss(key: str) -> bool:
    """``loss``, ``loss_ce``, ``train/loss_dice`` (hierarchical logging)."""
    return key.rsplit('/', 1)[-1].startswith('loss')


def json_object(text: str, where: str) -> Dict[str, Any]:
    """The JSON object in ``text``; ``ValueError`` naming ``where`` (a file,
    or ``file:line``) if it is not JSON or not an object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f'{where}: not JSON ({err})') from err
    if not isinstance(value, dict):
        raise ValueError(f'{where}: expected a JSON object, got '
                         f'{type(value).__name__}')
    return value


def load_scalars(run_dir: PathLike) -> Scalars:
    """Read ``run_dir/vis_data/scalars.json``; errors name the file (and the
    line), and point from an experiment folder to its run folders."""
    run_dir = Path(run_dir)
    path = run_dir / SCALARS_FILE
    if not path.is_file():
        runs = sorted(p.parents[1].name
                      for p in run_dir.glob(f'*/{SCALARS_FILE.as_posix()}'))
        hint = (f'; run folders in {run_dir}: {", ".join(runs)}' if runs else
                ' (expected a run folder, work_dirs/<exp>/<timestamp>/)')
        raise FileNotFoundError(f'no scalars file {path}{hint}')
    train: List[Record] = []
    val: List[Record] = []
    logged_before: List[float] = []  # per validation: last training iter
    epoch, steps_are_epochs = None, True
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            record = numeric(json_object(line, f'{path}:{lineno}'))
            if 'iter' in record:  # MMEngine adds it to training lines only
                train.append(record)
                epoch = record.get('epoch')
            elif set(record) - BOOKKEEPING_KEYS:
                if 'step' not in record:
                    raise ValueError(
                        f'{path}:{lineno}: validation line has no "step"')
                steps_are_epochs &= record['step'] == epoch
                val.append(record)
                logged_before.append(train[-1]['iter'] if train else 0.0)
    if not train and not val:
        raise ValueError(f'{path} has no training or validation lines')
    steps = [r['step'] for r in val]
    if val and steps_are_epochs:
        return Scalars(path, train, val, 'epoch', steps)
    if any(b <= a for a, b in zip([0.0] + steps, steps)):
        # LoggerHook(log_metric_by_epoch=True), MMEngine's default, logs an
        # iteration-based run's validations at "epoch" 0: fall back to the
        # last training iteration logged before each validation.
        steps = logged_before
    return Scalars(path, train, val, 'iteration', steps)


def _keys(records: Sequence[Record]) -> List[str]:
    """Value keys in order of first appearance."""
    return list(dict.fromkeys(k for r in records for k in r
                              if k not in BOOKKEEPING_KEYS))


def _series(records: Sequence[Record], xs: Sequence[float],
            keys: Sequence[str]) -> Dict[str, Tuple[List[float],
                                                    List[float]]]:
    return {k: ([x for x, r in zip(xs, records) if k in r],
                [r[k] for r in records if k in r]) for k in keys}


def _file_stem(text: str) -> str:
    return re.sub(r'[^\w.-]+', '_', text)


def build_curves(scalars: Scalars) -> List[Curve]:
    """Training loss (every ``loss*`` key on one figure), learning rate
    (every ``*lr`` key, MMEngine's rule), one figure per overall validation
    metric, then one per per-class metric (keys ``<metric>.<class>``, every
    class a series on the same axes), in that order; figures without data
    are left out."""
    train_keys = _keys(scalars.train)
    losses = [k for k in train_keys if is_loss(k)]
    lrs = [k for k in train_keys if k.endswith('lr')]
    iters = [r['iter'] for r in scalars.train]
    curves = [
        Curve(name, title, 'iteration', _series(scalars.train, iters, keys))
        for name, title, keys in (('loss', 'training loss', losses),
                                  ('lr', 'learning rate', lrs)) if keys
    ]
    used = {c.name for c in curves}

    def unique(base: str) -> str:
        name, suffix = base, 1
        while name in used:  # two metric names that sanitise alike
            suffix += 1
            name = f'{base}_{suffix}'
        used.add(name)
        return name

    val_keys = _keys(scalars.val)
    per_class: Dict[str, List[str]] = {}
    for key in val_keys:
        if '.' in key:
            per_class.setdefault(key.split('.', 1)[0], []).append(key)
            continue
        curves.append(Curve(unique(f'val_{_file_stem(key)}'), f'val {key}',
                            scalars.val_axis,
                            _series(scalars.val, scalars.val_steps, [key])))
    for metric, keys in per_class.items():
        series = _series(scalars.val, scalars.val_steps, keys)
        curves.append(Curve(
            unique(f'val_{_file_stem(metric)}_per_class'),
            f'val {metric} per class', scalars.val_axis,
            {key.split('.', 1)[1]: xy for key, xy in series.items()}))
    return curves


def _plain_text(text: str) -> str:
    """Keep matplotlib from reading ``$...$`` in a name as mathtext."""
    return text.replace('$', r'\$')


def draw_curve(curve: Curve) -> Figure:
    """The curve on a private Agg canvas: 640x360, or 960x420 with more
    than 10 series (their legend goes beside the axes).

    Up to 30 points a series is marked at each; a series of one point (a
    run validated once) would be a dot: it is drawn as a large marker and,
    up to 10 series, labelled with its value, and its step is the only
    tick.
    """
    many = len(curve.series) > 10  # matplotlib's 10 colours, then styles
    fig = Figure(figsize=(9.6, 4.2) if many else (6.4, 3.6), dpi=100,
                 layout='constrained')
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for index, (label, (x, y)) in enumerate(curve.series.items()):
        ax.plot(x, y, label=_plain_text(label),
                linestyle=('-', '--', ':', '-.')[index // 10 % 4],
                marker='o' if len(x) <= 30 else None,
                markersize=8 if len(x) == 1 else 3)
        if len(x) == 1 and not many:
            ax.annotate(f'{y[0]:.4g}', (x[0], y[0]), xytext=(8, 6),
                        textcoords='offset points')
    ax.set_title(_plain_text(curve.title))
    ax.set_xlabel(curve.xlabel)
    steps = {step for x, _ in curve.series.values() for step in x}
    if len(steps) == 1:  # ticks at fractions of a step around it
        ax.set_xticks(sorted(steps))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps count
    ax.grid(alpha=0.3)
    if 1 < len(curve.series) <= MAX_LEGEND:
        # Many classes: the legend goes beside the axes, not over them.
        ax.legend(fontsize='x-small' if many else 'small',
                  ncols=1 + len(curve.series) // 16,
                  **(dict(loc='center left', bbox_to_anchor=(1.01, 0.5))
                     if many else {}))
    return fig


def render_png(curve: Curve) -> bytes:
    """:func:`draw_curve`'s figure as PNG bytes."""
    buf = io.BytesIO()
    # No 'Software' tag: it would carry matplotlib's URL into every file.
    draw_curve(curve).savefig(buf, format='png', metadata={'Software': None})
    return buf.getvalue()


def plot_curves(run_dir: PathLike,
                out_dir: Optional[PathLike] = None) -> List[Path]:
    """Write every curve of ``run_dir`` as ``<out_dir>/<name>.png``
    (default ``run_dir/curves/``), each atomically; returns the paths."""
    scalars = load_scalars(run_dir)
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / 'curves'
    paths = []
    for curve in build_curves(scalars):
        path = out / f'{curve.name}.png'
        atomic_write(path, render_png(curve))
        paths.append(path)
    return paths
