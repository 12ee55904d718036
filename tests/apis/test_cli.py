"""The tools' shared command line: override values, checkpoint flags and
one-line user errors."""
import argparse
import sys

import pytest
from mmengine.config import Config

from segkit.apis.cli import (OverrideAction, configure_checkpoint_fit,
                             parse_override_value, run_tool, user_message)
from segkit.utils import DataError, MissingPathError


@pytest.mark.parametrize('text, value', [
    # MMEngine's syntax is kept
    ('7', 7), ('slide', 'slide'), ('1,2', [1, 2]), ('(64,64)', (64, 64)),
    ('[1,(2,3)]', [1, (2, 3)]), ('True', True), ('None', None),
    # whole dicts, as configs write them (MMEngine recursed forever)
    ("dict(mode='slide',crop_size=128,stride=96)",
     dict(mode='slide', crop_size=128, stride=96)),
    ("dict(crop_size=(128,128),flip=True)",
     dict(crop_size=(128, 128), flip=True)),
    ("[dict(type='LinearLR',end=-1),dict(type='PolyLR')]",
     [dict(type='LinearLR', end=-1), dict(type='PolyLR')]),
    ("{'mode': 'whole'}", dict(mode='whole')),
    # quoted strings stay strings (MMEngine read '0016E5' as 1600000.0)
    ("['0016E5','0006R0']", ['0016E5', '0006R0']), ("'1'", '1'),
    ('"a b"', 'a b'), ("[x,'2']", ['x', '2']),
])
def test_override_values(text, value):
    assert parse_override_value(text) == value


@pytest.mark.parametrize('text, error', [
    ('dict(a=print(1))', r"'print\(1\)' is not a literal"),
    ("dict(mode='slide'", 'not a Python literal'),
    ('(1,2', 'unbalanced brackets'),
])
def test_bad_override_values_are_refused(text, error):
    with pytest.raises(ValueError, match=error):
        parse_override_value(text)


def test_override_action_makes_a_usage_error(capsys):
    parser = argparse.ArgumentParser(prog='tool')
    parser.add_argument('--cfg-options', nargs='+', action=OverrideAction)
    args = parser.parse_args(['--cfg-options', "a.b=dict(x=1)", 'c=2'])
    assert args.cfg_options == {'a.b': dict(x=1), 'c': 2}
    with pytest.raises(SystemExit) as info:
        parser.parse_args(['--cfg-options', 'nokey'])
    assert info.value.code == 2
    assert capsys.readouterr().err.endswith(
        "tool: error: --cfg-options 'nokey': expected KEY=VALUE, e.g. "
        'train_cfg.max_iters=1000\n')


def fail(error: Exception):

    def main():
        raise error

    return main


def test_user_error_is_one_line_and_status_1(capsys, monkeypatch):
    monkeypatch.setattr(sys, 'argv', ['tool'])
    monkeypatch.delenv('SEGKIT_DEBUG', raising=False)
    with pytest.raises(SystemExit) as info:
        run_tool(fail(MissingPathError('checkpoint not found: x.pth')))
    assert info.value.code == 1
    assert capsys.readouterr().err == 'error: checkpoint not found: x.pth\n'


@pytest.mark.parametrize('argv, env', [(['tool', '--debug'], None),
                                       (['tool'], '1')])
def test_debug_keeps_the_traceback(monkeypatch, argv, env):
    monkeypatch.setattr(sys, 'argv', argv)
    if env:
        monkeypatch.setenv('SEGKIT_DEBUG', env)
    with pytest.raises(MissingPathError):
        run_tool(fail(MissingPathError('x')))


def test_a_bug_is_not_caught(monkeypatch):
    monkeypatch.setattr(sys, 'argv', ['tool'])
    with pytest.raises(ValueError):  # a plain ValueError is not the user's
        run_tool(fail(ValueError('bug')))


def test_error_from_a_dataloader_worker_loses_the_worker_traceback():
    # torch re-raises a worker's error as its type with this message
    wrapped = DataError(
        'Caught DataError in DataLoader worker process 0.\nOriginal '
        'Traceback (most recent call last):\n  File "x.py", line 1, in f\n'
        'segkit.utils.errors.DataError: cannot decode image a.png: expected '
        'a readable image file\n')
    assert user_message(wrapped) == (
        'cannot decode image a.png: expected a readable image file')


def test_checkpoint_fit_hook_is_found_by_type_or_added():
    cfg = Config(dict(custom_hooks=[dict(type='SegVisHook'),
                                    dict(type='CheckpointFitHook')]))
    configure_checkpoint_fit(cfg, strict=False)
    assert cfg.custom_hooks[1] == dict(type='CheckpointFitHook', strict=False,
                                       relax='rerun with --no-strict')
    bare = Config(dict())
    configure_checkpoint_fit(bare, strict=True)
    assert bare.custom_hooks == [dict(type='CheckpointFitHook', strict=True,
                                      relax='rerun with --no-strict')]
