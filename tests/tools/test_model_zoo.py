"""segkit.benchmark.zoo, which writes docs/model_zoo.md: a run folder's
outcome, a model's size and cost, and the page made of the rows."""
import json
from pathlib import Path

import pytest

from segkit.apis import load_config
from segkit.benchmark import Settings, zoo
from segkit.benchmark.zoo import (FLOP_SIZE, format_table, latest_run,
                                  model_facts, rows_file, run_outcome,
                                  write_zoo)
from segkit.utils import MissingPathError

REPO = Path(__file__).resolve().parents[2]


def fake_run(work_dir: Path, name: str, val: list, wall_time=None) -> Path:
    """A run folder as MMEngine and ReportHook leave it: scalars, and
    ``run_info.json`` once the run finished."""
    run = work_dir / name
    (run / 'vis_data').mkdir(parents=True)
    lines = [dict(iter=i, loss=1.0 / i, lr=0.01) for i in (10, 20, 30)]
    lines += [dict(mIoU=score, step=step) for step, score in val]
    (run / 'vis_data' / 'scalars.json').write_text(
        '\n'.join(json.dumps(line) for line in lines) + '\n')
    if wall_time is not None:
        (run / 'run_info.json').write_text(json.dumps(dict(
            wall_time=wall_time, end_iter=30)))
    return run


def test_the_newest_run_its_best_score_and_its_minutes(tmp_path):
    fake_run(tmp_path, '20261101_000000', [(10, 0.9)], wall_time=60)
    # The last iteration (32, validated) falls between two log points.
    newest = fake_run(tmp_path, '20261102_000000', [(10, 0.4), (32, 0.5)],
                      wall_time=750)
    assert latest_run(str(tmp_path)) == newest
    assert run_outcome(newest, 'mIoU') == dict(
        score=0.5, metric='mIoU', iterations=32, minutes=12.5)
    stopped = fake_run(tmp_path / 'other', '20261103_000000', [(10, 0.3)])
    assert run_outcome(stopped, 'mIoU')['minutes'] is None
    assert latest_run(str(tmp_path / 'empty')) is None


def test_model_facts_count_the_configs_network():
    """Doubling a U-Net's widths about quadruples its parameters and the
    FLOPs of a 360x480 forward pass (both quadratic in width)."""
    narrow, wide = (model_facts(load_config(
        str(REPO / 'configs' / 'unet_camvid_quick.py'),
        {'model.backbone.base_channels': width})) for width in (4, 8))
    assert 3.5 < wide['params'] / narrow['params'] < 4.1
    assert 3.0 < wide['gflops'] / narrow['gflops'] < 4.1
    assert 0.1 < narrow['gflops'] < 10


def test_the_page_has_a_row_and_a_command_per_config():
    rows = [
        dict(config='configs/a.py', quick_config='configs/a_quick.py',
             params=14_328_081, gflops=21.44, train_images_per_s=3.21,
             infer_images_per_s=9.87, quick_params=3_574_657,
             score=0.61234, metric='mIoU',
             iterations=2400, minutes=11.46, run='work_dirs/a_quick/2026'),
        dict(config='configs/b.py', quick_config=None, params=1_000_000,
             gflops=5.0, train_images_per_s=1.0, infer_images_per_s=2.0),
    ]
    rows[0]['weights'] = 'efficientnet-lite0'
    page = format_table(rows).splitlines()
    assert '| a.py | efficientnet-lite0 | 14.33 | 21.4 | 3.21 | 9.87 | ' \
        'a_quick.py | 3.57 | 0.6123 mIoU | 2400 | 11.5 |' in page
    assert '| b.py | — | 1.00 | 5.0 | 1.00 | 2.00 | — | — | — | — | — |' \
        in page
    assert any(f'{FLOP_SIZE[1]}x{FLOP_SIZE[0]}' in line for line in page)
    assert '- `a.py`: `python tools/benchmark.py configs/a.py --what infer ' \
        'train`; `python tools/train.py configs/a_quick.py` (run ' \
        '`work_dirs/a_quick/2026`)' in page


def test_the_commands_say_when_and_where_a_row_was_measured():
    row = dict(config='configs/a.py', quick_config=None, measured='2026-11-26',
               machine='a CPU, 2 threads', params=1e6, gflops=5.0,
               train_images_per_s=1.0, infer_images_per_s=2.0)
    assert '- `a.py` (measured 2026-11-26, a CPU, 2 threads): `python ' \
        'tools/benchmark.py configs/a.py --what infer train`' in format_table(
            [row]).splitlines()


@pytest.mark.parametrize('config, weights', [
    ('unet_effl0_camvid_quick.py', 'efficientnet-lite0'),
    ('unet_r18_camvid_quick.py', 'none')])
def test_the_weights_column_names_what_the_backbone_starts_from(config,
                                                                weights):
    assert zoo.weights_of(load_config(str(REPO / 'configs' / config))) == \
        weights


@pytest.fixture
def fake_measure(monkeypatch):
    """zoo_row replaced by a counter: row ``config`` gets the throughput
    ``n``, the number of rows measured so far."""
    measured = []

    def zoo_row(config, quick_config, settings):
        measured.append(config)
        return dict(config=config, quick_config=quick_config, params=1e6,
                    gflops=1.0, train_images_per_s=float(len(measured)),
                    infer_images_per_s=1.0)

    monkeypatch.setattr(zoo, 'zoo_row', zoo_row)
    return measured


PAIRS = [('configs/a.py', None), ('configs/b.py', None)]


def test_only_measures_its_rows_and_keeps_the_others(tmp_path, fake_measure):
    out = str(tmp_path / 'zoo.md')
    write_zoo(PAIRS, out, Settings())
    assert fake_measure == ['configs/a.py', 'configs/b.py']
    rows = write_zoo(PAIRS, out, Settings(), only=['configs/b.py'])
    assert fake_measure[2:] == ['configs/b.py']
    # a.py kept as first measured (1st), b.py measured again (3rd).
    assert [row['train_images_per_s'] for row in rows] == [1.0, 3.0]
    assert json.loads(rows_file(out).read_text()) == rows
    assert '| b.py | — | 1.00 | 1.0 | 3.00 |' in Path(out).read_text()


def test_only_needs_the_rows_of_a_full_run(tmp_path, fake_measure):
    out = str(tmp_path / 'zoo.md')
    with pytest.raises(MissingPathError,
                       match=r'zoo.json: no rows.*without --only'):
        write_zoo(PAIRS, out, Settings(), only=['configs/b.py'])
    write_zoo(PAIRS[:1], out, Settings())
    with pytest.raises(MissingPathError,
                       match=r'zoo.json has no row for configs/b.py'):
        write_zoo(PAIRS, out, Settings(), only=['configs/a.py'])
    assert not Path(out).read_text().count('b.py')
