"""Comparing runs: the table holds each run's final and best scores, the
curves overlay the runs, and a folder without scalars is named."""
import json
from pathlib import Path

import pytest

from segkit.visualization.compare import (compare_runs, find_run,
                                          format_table, load_runs,
                                          overlay_curves)
from tool_process import run_python


def _run(work_dir: Path, stamp: str, miou: list, losses: list) -> Path:
    """A run folder whose scalars.json has a training line per loss and a
    validation line per mIoU, every 10 iterations."""
    lines = [dict(lr=0.01, loss=loss, iter=10 * i + 10, step=10 * i + 10)
             for i, loss in enumerate(losses)]
    lines += [{'mIoU': m, 'aAcc': m + 0.3, 'IoU.road': m, 'step': 10 * i + 10}
              for i, m in enumerate(miou)]
    lines.sort(key=lambda line: (line['step'], 'iter' not in line))
    path = work_dir / stamp / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text('\n'.join(map(json.dumps, lines)) + '\n')
    return work_dir / stamp


def test_table_and_curves_of_two_runs(tmp_path):
    _run(tmp_path / 'a', '20260101_000000', [0.1, 0.2], [2.0, 1.0])
    newest = _run(tmp_path / 'a', '20260102_000000', [0.3, 0.5, 0.4],
                  [1.5, 1.2, 0.9])
    _run(tmp_path / 'b', '20260101_000000', [0.2, 0.6], [1.0, 0.5])
    assert find_run(tmp_path / 'a') == newest
    runs = load_runs([tmp_path / 'a', tmp_path / 'b'])
    table = format_table(runs).splitlines()
    assert table[0].split() == ['run', 'mIoU', 'aAcc']  # no per-class key
    assert table[2].split()[:5] == ['a', '0.4000', '(0.5000', '@', '20)']
    assert table[3].split()[:5] == ['b', '0.6000', '(0.6000', '@', '20)']
    curves = {c.name: c for c in overlay_curves(runs)}
    assert list(curves) == ['loss', 'val_mIoU', 'val_aAcc']
    assert curves['val_mIoU'].series == {'a': ([10, 20, 30],
                                               [0.3, 0.5, 0.4]),
                                         'b': ([10, 20], [0.2, 0.6])}
    table_text, paths = compare_runs([tmp_path / 'a', newest.parent.parent /
                                      'b'], tmp_path / 'out')
    assert [p.name for p in paths] == ['loss.png', 'val_mIoU.png',
                                       'val_aAcc.png']
    assert all(p.read_bytes()[:4] == b'\x89PNG' for p in paths)


def test_a_folder_without_scalars_is_named(tmp_path):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='empty: no vis_data'):
        find_run(tmp_path / 'empty')


@pytest.mark.slow
def test_tool_prints_the_table(tmp_path):
    _run(tmp_path / 'a', '20260101_000000', [0.1, 0.2], [2.0, 1.0])
    _run(tmp_path / 'b', '20260101_000000', [0.3], [1.0])
    proc = run_python(
        ['tools/compare_runs.py', str(tmp_path / 'a'), str(tmp_path / 'b'),
         '--out-dir', str(tmp_path / 'out')], timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'b    0.3000 (0.3000 @ 10)' in proc.stdout
    missing = run_python(
        ['tools/compare_runs.py', str(tmp_path / 'none')], timeout=120)
    assert missing.returncode == 1
    assert missing.stderr.startswith('error: ') and 'Traceback' not in \
        missing.stderr
