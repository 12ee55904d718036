"""Experiment trackers as docs/guides/05-training.md configures them, for
real: one short training run logs to W&B (offline) and to MLflow (a sqlite
store), and what they hold is read back and compared with MMEngine's own
scalars.json and the checkout's code."""
import json
import os
import re
from pathlib import Path

import pytest
from tool_process import run_python
from wandb_records import wandb_code_files, wandb_history

pytestmark = pytest.mark.slow  # a real training run in a subprocess

REPO = Path(__file__).resolve().parents[2]
# The lines a user adds to a config, read from docs/guides/05-training.md
# ("Experiment trackers"), so the guide's block is the one that runs.
GUIDE = REPO / 'docs' / 'guides' / '05-training.md'


def _guide_tracker_config() -> str:
    blocks = re.findall(r'```python\n(.*?)```',
                        GUIDE.read_text(encoding='utf-8'), re.S)
    block = next(b for b in blocks if 'MLflowVisBackend' in b)
    assert "_base_ = ['unet_camvid_quick.py']" in block, block
    assert "'sqlite:///work_dirs/mlflow.db'" in block, block
    assert "artifact_location='work_dirs/mlruns'" in block, block
    return (block.replace("_base_ = ['unet_camvid_quick.py']",
                          "_base_ = ['{base}']")
            .replace('sqlite:///work_dirs/', 'sqlite:///{root}/')
            .replace("artifact_location='work_dirs/",
                     "artifact_location='{root}/"))


TRACKED_CONFIG = _guide_tracker_config()


@pytest.fixture(scope='module')
def tracked_run(tmp_path_factory, camvid_sample_root):
    root = tmp_path_factory.mktemp('tracked')
    config = root / 'tracked.py'
    config.write_text(TRACKED_CONFIG.format(
        base=REPO / 'configs' / 'unet_camvid_quick.py', root=root))
    env = dict(os.environ, WANDB_MODE='offline', WANDB_SILENT='true')
    proc = run_python(
        ['tools/train.py', str(config), '--work-dir',
         str(root / 'work'), '--cfg-options',
         f'data_root={camvid_sample_root}', 'train_cfg.max_iters=4',
         'train_cfg.val_interval=2', 'default_hooks.logger.interval=1',
         'train_dataloader.batch_size=2', 'train_dataloader.num_workers=1',
         'val_dataloader.num_workers=1',
         # a tiny U-Net: the trackers log the same scalars and panels
         'model.backbone.base_channels=4', 'model.backbone.depth=3',
         'model.data_preprocessor.size_divisor=8'], env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir, ) = (root / 'work').glob('*/vis_data/scalars.json')
    lines = [json.loads(line) for line in run_dir.read_text().splitlines()]
    return root, run_dir.parent, lines


def test_wandb_offline_run_holds_the_scalars_and_the_panels(tracked_run):
    _, vis_data, lines = tracked_run
    (run, ) = (vis_data / 'wandb').glob('offline-run-*')
    history = wandb_history(next(run.glob('*.wandb')))
    logged = [{k: v for k, v in row.items() if not k.startswith(('_',
                                                                 'val/'))}
              for row in history]
    expected = [{k: v for k, v in line.items() if k != 'step'}
                for line in lines]
    assert [row for row in logged if row] == expected
    panels = sorted((run / 'files' / 'media' / 'images' / 'val').glob(
        '*.png'))
    assert len(panels) == 2 * 4  # 2 validations x the sample's 4 images
    assert panels[0].read_bytes()[:4] == b'\x89PNG'


def test_wandb_code_artifact_holds_the_projects_code_only(tracked_run):
    """The run started in the checkout, whose .venv holds thousands of
    installed packages' .py files (MMEngine's backend logged them all)."""
    _, vis_data, _ = tracked_run
    (run, ) = (vis_data / 'wandb').glob('offline-run-*')
    code = wandb_code_files(next(run.glob('*.wandb')))
    assert {'tools/train.py', 'segkit/__init__.py',
            'requirements.txt'} <= set(code)
    assert not [path for path in code
                if path.startswith(('.', 'work_dirs/'))], code
    assert len(code) < 1000


def test_mlflow_metrics_read_back_equal_scalars_json(tracked_run):
    from mlflow import MlflowClient
    root, _, lines = tracked_run
    client = MlflowClient(tracking_uri=f'sqlite:///{root}/mlflow.db')
    (run, ) = client.search_runs(
        [client.get_experiment_by_name('segkit').experiment_id])
    keys = {k for line in lines for k in line if k != 'step'}
    assert set(run.data.metrics) == keys
    for key in keys:
        logged = [(m.step, m.value)
                  for m in client.get_metric_history(run.info.run_id, key)]
        # time and data_time are in training and validation lines alike
        assert sorted(logged) == sorted((line['step'], line[key])
                                        for line in lines if key in line)
    images = [a.path for a in client.list_artifacts(run.info.run_id,
                                                    'images')]
    assert sum(p.endswith('.png') for p in images) == 2 * 4
