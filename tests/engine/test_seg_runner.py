"""SegRunner on a model small enough to train in a second: the console and
the log file, the log interval of a short run, checkpoints that know their
model, and what a failed start leaves behind."""
import copy
import json
import re
import uuid
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset

from segkit.apis.cli import resolve_checkpoint
from segkit.engine.resume import (MODEL_IDENTITY_KEY, best_checkpoint,
                                  find_resume_checkpoint, model_identity)
from segkit.engine.runner import SegRunner, auto_log_interval
from segkit.registry import DATASETS, MODELS, RUNNERS
from segkit.utils import (CheckpointMismatchError, MissingPathError,
                          UnwritablePathError)


@MODELS.register_module(name='SegRunnerTestModel', force=True)
class TinyModel(BaseModel):
    """Two 1x1 convolutions; ``hidden`` changes the architecture."""

    def __init__(self, hidden: int = 2, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.net = nn.Sequential(nn.Conv2d(3, hidden, 1), nn.ReLU(),
                                 nn.Conv2d(hidden, 2, 1))

    def forward(self, inputs, labels=None, mode='tensor'):
        logits = self.net(inputs)
        if mode == 'loss':
            return dict(loss=F.cross_entropy(logits, labels))
        if mode == 'predict':
            return list(logits.argmax(1) == labels)
        return logits


@DATASETS.register_module(name='SegRunnerTestDataset', force=True)
class TinyDataset(Dataset):
    metainfo = dict(classes=('background', 'object'))

    def __init__(self, broken: bool = False):
        if broken:
            raise MissingPathError('data_root /nowhere does not exist')

    def __len__(self):
        return 4

    def __getitem__(self, index):
        gen = torch.Generator().manual_seed(index)
        return dict(inputs=torch.rand(3, 8, 8, generator=gen),
                    labels=torch.randint(0, 2, (8, 8), generator=gen))


def config(work_dir: Path, hidden: int = 2, broken: bool = False,
           **overrides) -> Config:
    """4 iterations, validation at 2 and 4, segkit's console and an
    'auto' log interval, as configs/_base_/default_runtime.py has them."""
    loader = dict(dataset=dict(type='SegRunnerTestDataset', broken=broken),
                  batch_size=2, collate_fn=dict(type='default_collate'),
                  sampler=dict(type='DefaultSampler', shuffle=False))
    train_loader = dict(loader, sampler=dict(type='InfiniteSampler'))
    cfg = dict(
        runner_type='SegRunner', model=dict(type='SegRunnerTestModel',
                                            hidden=hidden),
        work_dir=str(work_dir), experiment_name=f'sr-{uuid.uuid4().hex}',
        train_dataloader=train_loader, val_dataloader=loader,
        val_evaluator=dict(type='Accuracy'),
        train_cfg=dict(by_epoch=False, max_iters=4, val_interval=2),
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval='auto',
                        log_metric_by_epoch=False),
            checkpoint=dict(type='CheckpointHook', by_epoch=False,
                            interval=2, save_best='accuracy'),
            console=dict(type='ConsoleHook')),
        log_processor=dict(by_epoch=False), randomness=dict(seed=0),
        default_scope='segkit')
    cfg.update(overrides)
    return Config(cfg)


@pytest.fixture(autouse=True)
def accuracy_metric():
    """A metric returning a plain float, as segkit's metrics do."""
    from mmengine.evaluator import BaseMetric
    from segkit.registry import METRICS

    @METRICS.register_module(name='Accuracy', force=True)
    class Accuracy(BaseMetric):
        default_prefix = ''

        def process(self, data_batch, data_samples):
            self.results.extend(s.float().mean().item()
                                for s in data_samples)

        def compute_metrics(self, results):
            return dict(accuracy=sum(results) / len(results))


def run_folders(work_dir: Path):
    return sorted(p.name for p in work_dir.glob('2*'))


def test_console_shows_summary_progress_scores_the_log_keeps_it_all(
        tmp_path, capsys):
    runner = RUNNERS.build(config(tmp_path / 'work'))
    assert type(runner) is SegRunner
    runner.train()
    console = capsys.readouterr().out
    log = (Path(runner.log_dir) / f'{runner.timestamp}.log').read_text()
    for dump in ('System environment', 'Config:', 'Hooks will be executed'):
        assert dump not in console and dump in log
    assert 'Iter(train) [4/4]' in log and 'Iter(train)' not in console
    lines = [re.sub(r'^\d\d:\d\d:\d\d ', '', line)
             for line in console.splitlines()]
    assert lines[0] == 'training'  # a config without a file
    assert lines[1].split() == ['data', 'train:', '4', 'images',
                                '(TinyDataset,', '2', 'classes)']
    # 3*2+2 + 2*2+2 weights; 2 * (3*2 + 2*2) FLOPs a pixel, 64 pixels.
    assert lines[3] == ('  model      TinyModel: 14 parameters, 1.28 kFLOPs '
                        'per 3x8x8 input')
    assert lines[4] == '  precision  fp32'
    assert f'  work dir   {tmp_path / "work"} (this run: ' in console
    assert '  schedule   4 iterations, validation every 2' in lines
    assert re.search(r'^iter 4/4  loss \d\.\d{4}  lr 1\.00e-01  s/iter '
                     r'\d+\.\d\d  eta 0:00:00$', '\n'.join(lines), re.M)
    assert re.search(r'^val at iteration 2: accuracy: \d\.\d{4}$',
                     '\n'.join(lines), re.M)
    assert f'  best checkpoint  {tmp_path / "work"}/best_accuracy_iter_' \
        in console
    assert f'  log              {runner.log_dir}/{runner.timestamp}.log' \
        in console
    assert len(lines) < 25


def test_a_resume_says_what_changed_and_names_checkpoints_that_exist(
        tmp_path, capsys):
    work = tmp_path / 'work'
    RUNNERS.build(config(work)).train()
    for best in work.glob('best_*.pth'):
        best.unlink()  # replaced by a later best of that run, say
    capsys.readouterr()
    loader = config(work).train_dataloader
    from mmengine.evaluator import BaseMetric
    from segkit.registry import METRICS

    @METRICS.register_module(name='NoBetter', force=True)
    class NoBetter(BaseMetric):  # the resumed run saves no better best
        default_prefix = ''

        def process(self, data_batch, data_samples):
            self.results.append(0.0)

        def compute_metrics(self, results):
            return dict(accuracy=0.0)

    resumed = RUNNERS.build(config(
        work, resume=True, load_from=str(work / 'iter_4.pth'),
        train_cfg=dict(by_epoch=False, max_iters=5, val_interval=100),
        train_dataloader=dict(loader, batch_size=1),
        val_evaluator=dict(type='NoBetter')))
    resumed.train()
    out = capsys.readouterr()
    console = out.out + out.err
    log = Path(resumed.log_dir, f'{resumed.timestamp}.log').read_text()
    changed = ('resuming with train_dataloader.batch_size 2 -> 1, '
               'train_cfg.max_iters 4 -> 5: the rest of the run follows the '
               'new values')
    assert console.count(changed) == 1
    assert 'is not defined in message_hub' not in log + console
    assert 'best checkpoint' not in console  # none exists any more
    assert '  last checkpoint  ' in console


def test_piped_progress_is_printed_at_least_every_progress_seconds(
        tmp_path, capsys):
    import time

    from mmengine.hooks import Hook

    class SlowIteration(Hook):

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            if runner.iter + 1 == 3:
                time.sleep(2.0)

    runner = RUNNERS.build(config(
        tmp_path / 'work',
        train_cfg=dict(by_epoch=False, max_iters=20, val_interval=20),
        default_hooks=dict(console=dict(type='ConsoleHook',
                                        progress_seconds=1.0))))
    runner.register_hook(SlowIteration())
    runner.train()
    shown = {int(i) for i in re.findall(r'iter (\d+)/20',
                                         capsys.readouterr().out)}
    # every second iteration, as 10 lines of 20 are, and the slow third
    # (and the first, which may be as slow: the workers start)
    assert {3, *range(2, 21, 2)} <= shown <= {1, 3, *range(2, 21, 2)}


def test_a_short_run_logs_every_iteration():
    assert [auto_log_interval(n) for n in (4, 40, 99, 1000, 40000)] == [
        1, 1, 1, 20, 50]


def test_auto_log_interval_is_settled_from_the_run_length(tmp_path):
    runner = RUNNERS.build(config(tmp_path / 'work'))
    runner.train()
    scalars = Path(runner.log_dir, 'vis_data', 'scalars.json').read_text()
    iters = [json.loads(line).get('iter') for line in scalars.splitlines()]
    assert [i for i in iters if i is not None] == [1, 2, 3, 4]


def test_checkpoints_record_their_model_resume_refuses_another(tmp_path):
    work = tmp_path / 'work'
    RUNNERS.build(config(work)).train()
    meta = torch.load(work / 'iter_4.pth', weights_only=False)['meta']
    assert meta[MODEL_IDENTITY_KEY] == model_identity(
        dict(type='SegRunnerTestModel', hidden=2))
    first = run_folders(work)

    resumed = RUNNERS.build(config(work, hidden=3, resume=True,
                                   load_from=str(work / 'iter_4.pth')))
    with pytest.raises(CheckpointMismatchError, match=(
            rf'cannot resume from {work}/iter_4\.pth: it is a checkpoint of '
            r'another model \(model\.hidden: 2 -> 3\)\. Resume from a '
            'checkpoint of this model, or give this run its own '
            '--work-dir')):
        resumed.train()
    assert run_folders(work) == first  # the refused start left nothing

    same = RUNNERS.build(config(work, resume=True, train_cfg=dict(
        by_epoch=False, max_iters=6, val_interval=2),
        load_from=str(work / 'iter_4.pth')))
    same.train()
    assert same.iter == 6


def test_a_failed_start_leaves_no_folder_behind(tmp_path):
    fresh = tmp_path / 'fresh'
    with pytest.raises(MissingPathError):
        RUNNERS.build(config(fresh, broken=True)).train()
    assert not fresh.exists()

    used = tmp_path / 'used'
    RUNNERS.build(config(used)).train()
    before = run_folders(used)
    with pytest.raises(MissingPathError):
        RUNNERS.build(config(used, broken=True)).train()
    assert run_folders(used) == before and (used / 'iter_4.pth').is_file()


def test_a_work_dir_that_cannot_be_written_is_one_user_error(
        tmp_path, monkeypatch):
    blocker = tmp_path / 'a_file'
    blocker.write_text('')
    with pytest.raises(UnwritablePathError, match=(
            rf'cannot write the work dir {blocker}/work: Not a directory; '
            'choose another with --work-dir')):
        RUNNERS.build(config(blocker / 'work'))

    def refused(*args, **kwargs):
        raise PermissionError(13, 'Permission denied')

    monkeypatch.setattr('tempfile.TemporaryFile', refused)
    with pytest.raises(UnwritablePathError,
                       match=f'{tmp_path}/ro: Permission denied'):
        RUNNERS.build(config(tmp_path / 'ro'))
    assert not (tmp_path / 'ro').exists()  # created, so removed again


def test_resume_search_passes_over_another_models_checkpoints(
        tmp_path, warnings_logged):
    work = tmp_path / 'work'
    RUNNERS.build(config(work)).train()  # hidden=2: iter_2, iter_4
    # A second model in the same work dir overwrites iter_2.pth, and
    # last_checkpoint now names it.
    RUNNERS.build(config(work, hidden=3, train_cfg=dict(
        by_epoch=False, max_iters=2, val_interval=2))).train()
    assert (work / 'last_checkpoint').read_text().endswith('iter_2.pth')
    with warnings_logged() as warnings:
        found = find_resume_checkpoint(
            str(work), dict(type='SegRunnerTestModel', hidden=2))
    assert found == str(work / 'iter_4.pth')
    [warning] = warnings
    assert (f'{work}/iter_2.pth (named by {work}/last_checkpoint): another '
            'model (model.hidden: 3 -> 2)') in warning
    with pytest.raises(MissingPathError, match=(
            rf'Nothing to resume in {work}: no checkpoint there is complete '
            r'and of this model .*model\.hidden: 3 -> 4.* Pass --resume CKPT '
            'to choose one, or --work-dir DIR to start afresh elsewhere')):
        find_resume_checkpoint(str(work),
                               dict(type='SegRunnerTestModel', hidden=4))


def test_best_checkpoint_is_the_last_runs_own(tmp_path, capsys):
    work = tmp_path / 'work'
    runner = RUNNERS.build(config(work))
    runner.train()
    best = runner.message_hub.get_info('best_ckpt')
    # Another run's best, newer on disk: a listing by time would take it.
    decoy = work / 'best_accuracy_iter_99.pth'
    decoy.write_bytes(Path(best).read_bytes())
    assert best_checkpoint(str(work)) == best
    # tools/test.py CONFIG WORK_DIR scores it, and says which it is.
    capsys.readouterr()
    assert resolve_checkpoint(str(work)) == best
    assert capsys.readouterr().out == (
        f'checkpoint: {best}, the best of the last run in {work}\n')
    assert resolve_checkpoint(str(decoy)) == str(decoy)  # a file as given
    (work / 'last_checkpoint').unlink()
    with pytest.raises(MissingPathError, match='holds no finished training'):
        best_checkpoint(str(work))


def test_a_preempted_run_keeps_its_folder_and_log(tmp_path):
    """SIGTERM after the first iteration, before any log point: the run
    trained and saved, so its folder and the log line saying where it
    stopped stay, unlike a failed start's."""
    import os
    import signal

    from mmengine.hooks import Hook

    from segkit.engine.hooks import TrainingPreempted

    class SignalAfterFirstIteration(Hook):

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            if runner.iter == 0:
                os.kill(os.getpid(), signal.SIGTERM)

    runner = RUNNERS.build(config(tmp_path, default_hooks=dict(
        logger=dict(type='LoggerHook', interval=10),
        checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2),
        preemption=dict(type='PreemptionHook'))))
    runner.register_hook(SignalAfterFirstIteration())
    with pytest.raises(TrainingPreempted):
        runner.train()
    [folder] = [path for path in tmp_path.glob('2*') if path.is_dir()]
    log = next(folder.glob('*.log')).read_text()
    assert 'SIGTERM: stopped after iteration 1/4' in log
    assert (tmp_path / 'iter_1.pth').is_file()


@pytest.mark.parametrize('channels_last', [True, False])
def test_weights_follow_channels_last_batches_before_any_wrapper(
        tmp_path, channels_last):
    """With channels_last batches, the weights are converted before DDP
    would wrap the model: gradient buckets then match the gradients'
    strides (no "Grad strides do not match bucket view strides" copy each
    step) and no convolution converts its weight per call."""
    from segkit.apis import load_config
    cfg = load_config(
        str(Path(__file__).resolve().parents[2] / 'configs' /
            'unet_camvid_quick.py'),
        {'model.backbone.base_channels': 4,
         'model.data_preprocessor.channels_last': channels_last},
        work_dir=str(tmp_path / 'work'))
    # Both cases are often built within one second: MMEngine's logger and
    # visualizer instances, named by the time, would clash.
    cfg.experiment_name = f'channels_last_{channels_last}'
    runner = RUNNERS.build(cfg)
    convolutions = [p for p in runner.model.parameters() if p.dim() == 4]
    assert convolutions
    assert all(p.is_contiguous(memory_format=torch.channels_last) ==
               channels_last or p.shape[-2:] == (1, 1)
               for p in convolutions)


def test_a_run_formats_its_config_once_and_writes_mmengines_text(
        tmp_path, monkeypatch):
    import mmengine.config.config as mmengine_config
    formatted = []

    def format_code(text, **kwargs):
        formatted.append(text)
        return real_format_code(text, **kwargs)

    real_format_code = mmengine_config.FormatCode
    cfg = config(tmp_path / 'work')
    expected = copy.deepcopy(cfg).pretty_text  # MMEngine's own, unpatched
    monkeypatch.setattr(mmengine_config, 'FormatCode', format_code)
    runner = RUNNERS.build(cfg)
    runner.train()  # logs, dumps and checkpoints (two) the config
    assert len(formatted) == 1
    meta = torch.load(tmp_path / 'work' / 'iter_4.pth',
                      weights_only=False)['meta']
    assert meta['cfg'] == expected
    runner.cfg.train_cfg.max_iters = 8  # a changed config is formatted again
    assert 'max_iters=8' in runner.cfg.pretty_text and len(formatted) == 2
    assert 'max_iters=8' in runner.cfg.pretty_text and len(formatted) == 2
