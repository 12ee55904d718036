"""Rows of docs/model_zoo.md, measured: a model's size and cost, its
throughput here, and what its quick-schedule run reached and took. The rows
are also kept as measured in ``docs/model_zoo.json``, so that one row can be
measured again without measuring them all."""
import json
import os.path as osp
from datetime import date
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmengine.config import Config

from segkit.apis import init_model, load_config
from segkit.engine.model_summary import summarize_model
from segkit.models.backbones.named_weights import find_pretrained
from segkit.utils import MissingPathError, atomic_write, dump_json_atomic
from segkit.visualization.curves import load_scalars
from .machine import cpu_model
from .run import run_benchmark
from .timing import Settings

#: (h, w) the GFLOPs are counted at: CamVid's native frame.
FLOP_SIZE = (360, 480)


def model_facts(cfg: Config) -> Dict[str, Any]:
    """Parameters and forward GFLOPs of one image at :data:`FLOP_SIZE`,
    counted on a meta-device copy as every run's model summary is."""
    summary = summarize_model(init_model(cfg),
                              torch.empty(1, 3, *FLOP_SIZE))
    return dict(params=summary.params, gflops=summary.flops / 1e9)


def latest_run(work_dir: str) -> Optional[Path]:
    """The newest ``<timestamp>`` run folder of a work dir with scalars."""
    runs = sorted(p.parents[1] for p in Path(work_dir).glob(
        '*/vis_data/scalars.json'))
    return runs[-1] if runs else None


def run_outcome(run_dir: Path, metric: str) -> Dict[str, Any]:
    """The best validation ``metric`` of a run, the iterations it ran (the
    last logged or validated one), and its wall minutes from the
    ``run_info.json`` a finished run has (None for a run that was
    stopped)."""
    scalars = load_scalars(run_dir)
    scores = [line[metric] for line in scalars.val if metric in line]
    info = run_dir / 'run_info.json'
    wall = (json.loads(info.read_text()).get('wall_time')
            if info.is_file() else None)
    return dict(score=max(scores) if scores else None, metric=metric,
                iterations=int(max(scalars.train[-1]['iter'],
                                   *scalars.val_steps)),
                minutes=None if wall is None else wall / 60)


def weights_of(cfg: Config) -> str:
    """What a config's backbone starts from: the name or file of its
    pretrained weights, or ``'none'``."""
    source = find_pretrained(cfg.model.get('backbone'))
    return osp.basename(source) if source else 'none'


def zoo_row(config: str, quick_config: Optional[str],
            settings: Settings) -> Dict[str, Any]:
    """Everything one table row shows, measured now (the quick run's score
    and minutes are read from its work dir)."""
    cfg = load_config(config)
    row: Dict[str, Any] = dict(config=config, quick_config=quick_config,
                               measured=date.today().isoformat(),
                               machine=machine_line(),
                               weights=weights_of(cfg), **model_facts(cfg))
    bench = run_benchmark(cfg, ('infer', 'train'), settings)
    row.update(precision=bench['precision'],
               train_images_per_s=bench['train']['runner']['images_per_s'],
               infer_images_per_s=bench['infer']['batch_1']['images_per_s'])
    if quick_config:
        quick = load_config(quick_config)
        row['quick_params'] = model_facts(quick)['params']
        metric = quick.default_hooks.checkpoint.get('save_best', 'mIoU')
        run = latest_run(quick.work_dir)
        if run is not None:
            row.update(run=str(run), **run_outcome(run, metric))
    return row


def _cell(value: Any, fmt: str) -> str:
    return '—' if value is None else format(value, fmt)


def machine_line() -> str:
    """This machine as a row records it."""
    return f'{cpu_model()}, {torch.get_num_threads()} threads'


def format_table(rows: Sequence[Dict[str, Any]]) -> str:
    """The markdown page: the table, then each row's commands and the
    machine it was measured on."""
    lines = [
        '# Model zoo', '',
        'Made by `tools/model_zoo.py` from real runs; never edited by hand. '
        'Each row was measured on the machine its command line names: '
        'compare throughput between rows of one machine only. Throughput is '
        'at each config\'s default precision (bf16 autocast on a CPU with '
        'native bf16), '
        f'GFLOPs are one forward pass at {FLOP_SIZE[1]}x{FLOP_SIZE[0]}, '
        '"weights" is what the backbone starts from (ImageNet weights by '
        'name, or none: from scratch), a '
        'quick config\'s net can be narrower or shallower than its config\'s '
        '(its params say), the '
        'score is the best validation score of the newest run of the quick '
        'config in its work dir, and the minutes that run\'s wall time, '
        'validation included (— for a run stopped before its end; a run '
        'that shared the machine with other jobs took longer than it '
        'would alone).', '',
        '| config | weights | params (M) | GFLOPs | train img/s | infer img/s '
        '| quick config | its params (M) | val score | iters | minutes |',
        '|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|',
    ]
    for row in rows:
        quick = (osp.basename(row['quick_config'])
                 if row.get('quick_config') else '—')
        quick_params = (row['quick_params'] / 1e6
                        if row.get('quick_params') is not None else None)
        score = (f'{row["score"]:.4f} {row["metric"]}'
                 if row.get('score') is not None else '—')
        lines.append(
            f'| {osp.basename(row["config"])} | {row.get("weights", "—")} | '
            f'{row["params"] / 1e6:.2f} | '
            f'{row["gflops"]:.1f} | {row["train_images_per_s"]:.2f} | '
            f'{row["infer_images_per_s"]:.2f} | {quick} | '
            f'{_cell(quick_params, ".2f")} | {score} | '
            f'{_cell(row.get("iterations"), "d")} | '
            f'{_cell(row.get("minutes"), ".1f")} |')
    lines += ['', '## Commands', '']
    for row in rows:
        measured = ', '.join(filter(None, (row.get('measured'),
                                           row.get('machine'))))
        measured = f' (measured {measured})' if measured else ''
        lines.append(f'- `{osp.basename(row["config"])}`{measured}: '
                     f'`python tools/benchmark.py {row["config"]} --what '
                     'infer train`' + (
                         f'; `python tools/train.py {row["quick_config"]}` '
                         f'(run `{row["run"]}`)' if row.get('run') else ''))
    return '\n'.join(lines) + '\n'


def rows_file(out: str) -> Path:
    """Where the rows of the page ``out`` are kept: ``out`` as ``.json``."""
    return Path(out).with_suffix('.json')


def write_zoo(pairs: List[Sequence[Optional[str]]], out: str,
              settings: Settings,
              only: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    """Measure every ``(config, quick config or None)`` and write ``out``
    and its rows file.

    Args:
        pairs: The zoo's ``(config, quick config or None)``, in table order.
        out: The markdown page to write.
        settings: How the throughput is timed.
        only: Measure these configs only, and keep the other rows as they
            were last measured (read from :func:`rows_file`).

    Returns:
        The rows written, in table order.
    """
    kept: Dict[str, Dict[str, Any]] = {}
    if only:
        path = rows_file(out)
        if not path.is_file():
            raise MissingPathError(
                f'{path}: no rows were kept to merge {", ".join(only)} with; '
                'run tools/model_zoo.py without --only to measure every row')
        kept = {row['config']: row for row in json.loads(path.read_text())}
        missing = [config for config, _ in pairs
                   if config not in only and config not in kept]
        if missing:
            raise MissingPathError(
                f'{path} has no row for {", ".join(missing)}; run '
                'tools/model_zoo.py without --only to measure every row')
    rows = [kept[config] if only and config not in only else
            zoo_row(config, quick, settings) for config, quick in pairs]
    dump_json_atomic(rows, rows_file(out))
    atomic_write(out, format_table(rows).encode())
    return rows
