"""tools/analyze_model.py: the model summary of a config at a given size,
and one line for a bad size."""
import re

import pytest
from tool_process import run_python


@pytest.mark.slow
def test_tool_counts_at_the_given_size_and_refuses_a_bad_one():
    def run(*args):
        return run_python(
            ['tools/analyze_model.py',
             'configs/unet_camvid_quick.py', *args], timeout=300)

    done = run('--shape', '64', '96', '--depth', '1', '--cfg-options',
               'model.backbone.base_channels=4')
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert re.fullmatch(
        r'configs/unet_camvid_quick\.py: EncoderDecoder: [\d.]+ k parameters'
        r', [\d.]+ MFLOPs per 3x64x96 input \(a 64x96 image; FLOPs count a '
        r'multiply and an add apart\)', first), first
    *table, weights = done.stdout.splitlines()[3:]
    modules = [line.split()[0] for line in table if not line.startswith('-')]
    assert modules == ['backbone', 'decode_head', 'total']
    assert weights == 'backbone weights: none: initialised from scratch'

    bad = run('--shape', '0', '96')
    assert bad.returncode == 1
    assert bad.stderr == 'error: --shape 0 96: expected two sizes >= 1\n'
