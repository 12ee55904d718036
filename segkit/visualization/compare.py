"""Several runs side by side: their final and best validation scores as a
table, and each metric's curves overlaid, run against run (what one looks
at after a sweep). ``tools/compare_runs.py`` is the command line."""
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from segkit.utils import atomic_write
from .curves import SCALARS_FILE, Curve, PathLike, Scalars, _file_stem, \
    is_loss, load_scalars, render_png


@dataclass(frozen=True)
class Run:
    """A run's name in the table and legend, and its scalars."""
    name: str
    scalars: Scalars


def find_run(path: PathLike) -> Path:
    """The run folder of ``path``: itself if it holds
    ``vis_data/scalars.json``, else the newest such ``<timestamp>/``
    folder in it (an experiment's work dir)."""
    path = Path(path)
    if (path / SCALARS_FILE).is_file():
        return path
    runs = sorted(p.parents[1] for p in path.glob(f'*/{SCALARS_FILE}'))
    if not runs:
        raise FileNotFoundError(
            f'{path}: no {SCALARS_FILE} in it or in any <timestamp>/ folder '
            'in it: expected a work dir (work_dirs/<exp>) or a run folder')
    return runs[-1]


def load_runs(paths: Sequence[PathLike]) -> List[Run]:
    """Every path's run, named by its experiment folder, or by the
    relative path where two share one."""
    folders = [find_run(p) for p in paths]
    names = [folder.parent.name for folder in folders]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    return [Run(name, load_scalars(f)) for name, f in zip(names, folders)]


def summary_metrics(runs: Sequence[Run]) -> List[str]:
    """Validation metrics that summarise a run (``mIoU``, ``aAcc``, not the
    per-class ``IoU.<class>``), in order of first appearance."""
    keys = dict.fromkeys(k for run in runs for record in run.scalars.val
                         for k in record if k not in ('step', 'time',
                                                      'data_time')
                         and '.' not in k)
    return list(keys)


def final_and_best(run: Run, key: str
                   ) -> Optional[Tuple[float, float, float]]:
    """``(final value, best value, step of the best)`` of a validation
    metric (best = lowest for ``loss*`` keys, else highest), or None if the
    run never logged it."""
    points = [(value[key], step) for value, step in zip(
        run.scalars.val, run.scalars.val_steps) if key in value]
    if not points:
        return None
    pick = min if is_loss(key) else max
    best = pick(points, key=lambda p: p[0])
    return points[-1][0], best[0], best[1]


def format_table(runs: Sequence[Run]) -> str:
    """One row per run: each summary metric as ``final (best @ step)``."""
    metrics = summary_metrics(runs)
    if not metrics:
        raise ValueError('no run has validation metrics to compare: '
                         'expected scalars.json lines with e.g. mIoU')
    cells = [['run'] + metrics]
    for run in runs:
        row = [run.name]
        for key in metrics:
            found = final_and_best(run, key)
            row.append('-' if found is None else
                       f'{found[0]:.4f} ({found[1]:.4f} @ {found[2]:g})')
        cells.append(row)
    widths = [max(len(row[i]) for row in cells)
              for i in range(len(cells[0]))]
    lines = ['  '.join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
             for row in cells]
    return '\n'.join([lines[0], '-' * len(lines[0])] + lines[1:] +
                     ['final (best @ step); best is the highest, or the '
                      'lowest for losses'])


def overlay_curves(runs: Sequence[Run]) -> List[Curve]:
    """The total training loss, then each summary validation metric, with
    one series per run."""
    curves = []
    series: Dict[str, Tuple[List[float], List[float]]] = {}
    for run in runs:
        points = [(r['iter'], r['loss']) for r in run.scalars.train
                  if 'loss' in r]
        if points:
            series[run.name] = ([x for x, _ in points],
                                [y for _, y in points])
    if series:
        curves.append(Curve('loss', 'training loss', 'iteration', series))
    for key in summary_metrics(runs):
        series = {}
        for run in runs:
            points = [(step, r[key]) for r, step in zip(
                run.scalars.val, run.scalars.val_steps) if key in r]
            if points:
                series[run.name] = ([x for x, _ in points],
                                    [y for _, y in points])
        axis = {run.scalars.val_axis for run in runs}
        curves.append(Curve(f'val_{_file_stem(key)}', f'val {key}',
                            axis.pop() if len(axis) == 1 else 'step',
                            series))
    return curves


def compare_runs(paths: Sequence[PathLike], out_dir: PathLike
                 ) -> Tuple[str, List[Path]]:
    """The table of :func:`format_table` and the overlaid curves written
    as ``out_dir/<name>.png`` (atomically)."""
    runs = load_runs(paths)
    table = format_table(runs)
    written = []
    for curve in overlay_curves(runs):
        path = Path(out_dir) / f'{curve.name}.png'
        atomic_write(path, render_png(curve))
        written.append(path)
    return table, written
