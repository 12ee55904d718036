"""What segkit's W&B backend logs as the run's code."""
import os
from pathlib import Path

from segkit.visualization.vis_backends import not_project_code


def test_the_code_artifact_leaves_out_environments_and_run_folders(
        tmp_path):
    files = ['train.py', 'segkit/model.py', 'configs/_base_/a.py',
             '.venv/lib/site-packages/torch/b.py', '.git/hooks/c.py',
             'env/lib/d.py', 'work_dirs/run/config.py', 'wandb/run/e.py',
             'docs/venv_notes/f.py']
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text('')
    (tmp_path / 'env' / 'pyvenv.cfg').write_text('home = /usr/bin\n')
    root = str(tmp_path)
    kept = sorted(
        Path(os.path.relpath(os.path.join(folder, name), root)).as_posix()
        for folder, _, names in os.walk(root) for name in names
        if name.endswith('.py')
        and not not_project_code(os.path.join(folder, name), root))
    assert kept == ['configs/_base_/a.py', 'docs/venv_notes/f.py',
                    'segkit/model.py', 'train.py']
