"""A missing optional package is one error naming the extra to install,
raised when the component that needs it is built."""
import importlib.util

import pytest
from mmengine.registry import DefaultScope

from segkit.registry import VISBACKENDS
from segkit.utils import SegkitUserError
from segkit.utils.extras import (MissingExtraError, check_extra,
                                 import_extra)


@pytest.fixture
def without_wandb(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *args: (
        None if name == 'wandb' else real(name, *args)))


def test_missing_package_names_the_extra(without_wandb):
    with pytest.raises(MissingExtraError,
                       match=r"W&B needs the optional package 'wandb', "
                       r"which is not installed: pip install -e "
                       r"'\.\[wandb\]'"):
        check_extra('wandb', 'W&B')
    with pytest.raises(SegkitUserError, match=r"\.\[wandb\]"):
        import_extra('wandb.sdk', 'W&B')
    assert import_extra('json', 'reading').dumps([]) == '[]'


def test_a_tracker_config_line_is_refused_when_built(tmp_path,
                                                     without_wandb):
    with DefaultScope.overwrite_default_scope('segkit'):
        with pytest.raises(MissingExtraError,
                           match=r"WandbVisBackend needs .*\[wandb\]"):
            VISBACKENDS.build(dict(type='WandbVisBackend',
                                   save_dir=str(tmp_path)))
        backend = VISBACKENDS.build(dict(type='MLflowVisBackend',
                                         save_dir=str(tmp_path)))
    assert type(backend).__module__ == 'segkit.visualization.vis_backends'
