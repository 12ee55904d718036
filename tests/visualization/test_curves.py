"""Curves from scalars.json: one PNG per figure, the right x axis, and
errors that name the file."""
import json
import runpy
from pathlib import Path
from typing import List

import numpy as np
import pytest
from PIL import Image

from segkit.visualization.curves import (build_curves, draw_curve,
                                         load_scalars, plot_curves)

REPO_ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def train_line(it: int, **extra) -> dict:
    """A training line as MMEngine's LoggerHook writes it."""
    return dict(lr=1e-3 * it, data_time=0.01, loss=2.0 / it, loss_ce=1.5 / it,
                loss_dice=0.5 / it, time=0.2, iter=it, step=it, **extra)


def val_line(step: int, miou: float) -> dict:
    return {'aAcc': 0.8, 'mIoU': miou, 'IoU.Sky': miou + 0.1,
            'IoU.road <a/b>': float('nan'), 'data_time': 0.02, 'time': 0.1,
            'step': step}


def write_scalars(run_dir: Path, lines: List[dict]) -> Path:
    path = run_dir / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(json.dumps(line) + '\n' for line in lines))
    return path


@pytest.fixture
def iter_run(tmp_path) -> Path:
    run = tmp_path / 'exp' / '20260101_000000'
    write_scalars(run, [train_line(1), train_line(2), val_line(2, 0.3),
                        train_line(3), train_line(4), val_line(4, 0.5)])
    return run


def test_one_png_per_figure_in_the_default_folder(iter_run):
    paths = plot_curves(iter_run)
    assert [p.name for p in paths] == [
        'loss.png', 'lr.png', 'val_aAcc.png', 'val_mIoU.png',
        'val_IoU_per_class.png']
    assert {p.parent for p in paths} == {iter_run / 'curves'}
    for path in paths:
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        assert Image.open(path).size == (640, 360)
    # Atomic writes leave no temporary files behind.
    assert sorted(p.name for p in (iter_run / 'curves').iterdir()) == sorted(
        p.name for p in paths)


def test_series_follow_the_logged_keys_and_steps(iter_run):
    curves = {c.name: c for c in build_curves(load_scalars(iter_run))}
    loss = curves['loss']
    assert list(loss.series) == ['loss', 'loss_ce', 'loss_dice']
    assert loss.series['loss_ce'] == ([1, 2, 3, 4],
                                      [1.5, 0.75, 0.5, 0.375])
    assert list(curves['lr'].series) == ['lr']
    miou = curves['val_mIoU']
    assert miou.xlabel == 'iteration'
    assert miou.series == {'mIoU': ([2, 4], [0.3, 0.5])}


def test_metric_names_that_sanitise_alike_get_distinct_files(tmp_path):
    write_scalars(tmp_path, [{'m IoU': 0.1, 'm_IoU': 0.2, 'step': 1}])
    assert [c.name for c in build_curves(load_scalars(tmp_path))] == [
        'val_m_IoU', 'val_m_IoU_2']


def test_per_class_metrics_share_one_figure_a_series_per_class(iter_run):
    [per_class] = [c for c in build_curves(load_scalars(iter_run))
                   if c.name == 'val_IoU_per_class']
    assert per_class.title == 'val IoU per class'
    assert per_class.series == {
        'Sky': ([2, 4], [0.4, 0.6]),
        'road <a/b>': ([2, 4], [pytest.approx(float('nan'), nan_ok=True)] * 2)}


def test_epoch_based_run_plots_metrics_against_epochs(tmp_path):
    # EpochBasedTrainLoop + LoggerHook(log_metric_by_epoch=True): training
    # lines carry the epoch, a validation line's step is the epoch.
    write_scalars(tmp_path, [train_line(5, epoch=1), val_line(1, 0.2),
                             train_line(10, epoch=2), val_line(2, 0.4)])
    curves = build_curves(load_scalars(tmp_path))
    assert curves[0].xlabel == 'iteration'  # training lines: global iter
    assert {c.xlabel for c in curves[2:]} == {'epoch'}
    # log_metric_by_epoch=False: the step is the iteration again.
    write_scalars(tmp_path, [train_line(5, epoch=1), val_line(5, 0.2)])
    assert load_scalars(tmp_path).val_axis == 'iteration'


def test_validations_logged_at_epoch_0_fall_back_to_the_iteration(tmp_path):
    # An iteration-based run with LoggerHook(log_metric_by_epoch=True),
    # MMEngine's default: every validation line says step 0 (the epoch).
    write_scalars(tmp_path, [train_line(1, epoch=1), train_line(2, epoch=1),
                             val_line(0, 0.2), train_line(3, epoch=1),
                             val_line(0, 0.4)])
    scalars = load_scalars(tmp_path)
    assert (scalars.val_axis, scalars.val_steps) == ('iteration', [2, 3])
    miou = {c.name: c for c in build_curves(scalars)}['val_mIoU']
    assert miou.series == {'mIoU': ([2, 3], [0.2, 0.4])}


def test_missing_scalars_names_the_file_and_the_run_folders(tmp_path,
                                                            iter_run):
    with pytest.raises(FileNotFoundError,
                       match=r'no scalars file .*exp/vis_data/scalars\.json'
                       r'; run folders in .*: 20260101_000000'):
        plot_curves(iter_run.parent)
    with pytest.raises(FileNotFoundError, match='expected a run folder'):
        plot_curves(tmp_path / 'nowhere')


@pytest.mark.parametrize('content,message', [
    ('', 'has no training or validation lines'),
    ('{"data_time": 0.1, "time": 0.2}\n', 'has no training or validation'),
    ('{"loss": 1, "iter": 1, "step": 1}\n{"loss": \n', r'scalars\.json:2: '
     'not JSON'),
    ('[1, 2]\n', r'scalars\.json:1: expected a JSON object'),
    ('{"mIoU": 0.5}\n', r'scalars\.json:1: validation line has no "step"'),
])
def test_bad_scalars_name_the_file(tmp_path, content, message):
    path = write_scalars(tmp_path, [])
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        plot_curves(tmp_path)
    assert str(path) in str(err.value)


def test_cli_writes_to_out_dir_and_exits_with_the_reason(iter_run, tmp_path,
                                                         capsys):
    main = runpy.run_path(str(REPO_ROOT / 'tools' / 'plot_curves.py'))['main']
    main([str(iter_run), '--out-dir', str(tmp_path / 'out')])
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / 'out' / n) for n in (
        'loss.png', 'lr.png', 'val_aAcc.png', 'val_mIoU.png',
        'val_IoU_per_class.png')]
    assert all(Path(p).stat().st_size > 0 for p in printed)
    with pytest.raises(SystemExit, match=r'plot_curves: no scalars file .*'
                       r'missing/vis_data/scalars\.json'):
        main([str(tmp_path / 'missing')])


def marker_pixels(png: Path, colour=(31, 119, 180)) -> int:
    """Pixels within a small distance of ``colour`` (matplotlib's first
    line colour, C0, anti-aliased at the edges)."""
    pixels = np.asarray(Image.open(png).convert('RGB'), np.int16)
    return int((np.abs(pixels - colour).sum(axis=2) < 30).sum())


def test_a_single_validation_reads_as_a_labelled_marker(tmp_path):
    run = tmp_path / 'exp' / '20260101_000000'
    write_scalars(run, [train_line(1), train_line(2), val_line(2, 0.3)])
    [mIoU] = [c for c in build_curves(load_scalars(run))
              if c.name == 'val_mIoU']
    # A 3-pixel dot was all one validation drew; a marker 8 points across
    # covers some 100 pixels.
    assert marker_pixels(plot_curves(run)[3]) > 60
    labels = [t.get_text() for t in draw_curve(mIoU).axes[0].texts]
    assert labels == ['0.3']
    # and its step is the one tick: no fractions of an iteration
    assert [t.get_text() for t in draw_curve(mIoU).axes[0].get_xticklabels()
            ] == ['2']
