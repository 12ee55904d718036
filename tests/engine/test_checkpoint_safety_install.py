"""Checkpoint safety is one explicit call, never an import side effect."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PROBE = '''
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader
import segkit, segkit.apis, segkit.datasets, segkit.engine, segkit.models
import segkit.engine.hooks, segkit.evaluation, segkit.visualization

def state():
    wrapped = sorted(prefix for prefix, loader in
                     CheckpointLoader._schemes.items()
                     if getattr(loader, '_segkit_weights_only', False))
    return HistoryBuffer in torch.serialization.get_safe_globals(), wrapped

print(state())
segkit.engine.install_checkpoint_safety()
first = dict(CheckpointLoader._schemes)
print(state())
segkit.engine.install_checkpoint_safety()
print(CheckpointLoader._schemes == first)
'''


@pytest.mark.slow  # a fresh interpreter in a subprocess
def test_importing_segkit_patches_nothing_and_install_is_idempotent():
    out = subprocess.run([sys.executable, '-c', PROBE], cwd=REPO,
                         capture_output=True, text=True, check=True)
    before, after, unchanged = out.stdout.splitlines()
    assert before == '(False, [])'
    assert after.startswith('(True, [') and "''" in after
    assert unchanged == 'True'
