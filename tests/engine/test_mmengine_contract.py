"""The MMEngine internals segkit still relies on, each checked by name.

segkit uses MMEngine's public API wherever one exists. The few private
names below have no public counterpart; if an MMEngine upgrade moves one,
the test that fails names the segkit module to update, instead of that
module failing silently or far from the cause."""
import inspect

from mmengine.config import Config
from mmengine.hooks import CheckpointHook
from mmengine.runner.checkpoint import CheckpointLoader
from mmengine.visualization import Visualizer

from segkit.engine.hooks import AtomicCheckpointHook


def test_checkpoint_hook_saves_through_save_checkpoint_with_step():
    # segkit/engine/hooks/checkpoint_hook.py wraps this method to defer the
    # removal of expired checkpoints until the new one is on disk.
    method = getattr(CheckpointHook, '_save_checkpoint_with_step', None)
    assert method is not None, (
        'CheckpointHook._save_checkpoint_with_step is gone: update '
        'AtomicCheckpointHook')
    assert list(inspect.signature(method).parameters) == [
        'self', 'runner', 'step', 'meta'
    ]
    saver = inspect.getsource(CheckpointHook._save_checkpoint)
    assert '_save_checkpoint_with_step' in saver, (
        'CheckpointHook._save_checkpoint no longer calls '
        '_save_checkpoint_with_step: AtomicCheckpointHook would not run')
    body = inspect.getsource(method)
    for used in ('self.file_backend.remove', 'self.last_ckpt',
                 "'last_checkpoint'"):
        assert used in body, (
            f'_save_checkpoint_with_step no longer uses {used}: '
            'AtomicCheckpointHook relies on it')


def test_atomic_hook_defers_removal_and_rewrites_the_pointer(make_runner):
    runner = make_runner(default_hooks=dict(checkpoint=dict(
        type='AtomicCheckpointHook', by_epoch=False, interval=1,
        max_keep_ckpts=1)))
    hook = next(h for h in runner.hooks
                if isinstance(h, AtomicCheckpointHook))
    calls = []
    original = CheckpointHook._save_checkpoint_with_step

    def spy(self, *args):
        calls.append(type(self.file_backend).__name__)
        return original(self, *args)

    CheckpointHook._save_checkpoint_with_step = spy
    try:
        runner.train()
    finally:
        CheckpointHook._save_checkpoint_with_step = original
    assert calls == ['_DeferredRemoval'] * 4
    assert type(hook.file_backend).__name__ == 'AtomicLocalBackend'


def test_checkpoint_loader_keeps_its_schemes_in_a_dict():
    # segkit/engine/checkpoint.py wraps every registered scheme loader.
    schemes = getattr(CheckpointLoader, '_schemes', None)
    assert isinstance(schemes, dict) and schemes, (
        'CheckpointLoader._schemes is gone: update install_checkpoint_safety')
    assert all(callable(loader) for loader in schemes.values())
    assert '' in schemes  # local files


def test_runner_exposes_load_from_and_train_loop(make_runner, tmp_path):
    # CheckpointFitHook reads runner._load_from; SegVisHook reads
    # runner._train_loop without building it.
    runner = make_runner(load_from=str(tmp_path / 'x.pth'))
    assert runner._load_from == str(tmp_path / 'x.pth')
    assert isinstance(runner._train_loop, dict)  # not built yet


def test_visualizer_keeps_backends_in_a_dict():
    # SegLocalVisualizer.add_panel sends panels to self._vis_backends;
    # HistogramHook picks the TensorBoard and W&B backends from it.
    visualizer = Visualizer(name='contract_test', save_dir=None)
    assert isinstance(getattr(visualizer, '_vis_backends', None), dict)


def test_config_keeps_its_tree_in_cfg_dict():
    # segkit/apis/config.py reads Config._cfg_dict to check override keys.
    cfg = Config(dict(a=dict(b=1)))
    assert cfg._cfg_dict.to_dict() == dict(a=dict(b=1))


def test_runner_internals_segrunner_relies_on(make_runner, tmp_path):
    # SegRunner (segkit/engine/runner.py) reads _resume and _log_dir, builds
    # the console in build_logger before _log_env dumps the environment,
    # and passes meta to save_checkpoint by keyword, as CheckpointHook does.
    from mmengine.runner import Runner
    runner = make_runner(resume=True)
    assert runner._resume is True and runner._log_dir == runner.log_dir
    init = inspect.getsource(Runner.__init__)
    assert init.index('self.build_logger(') < init.index('self._log_env('), (
        'Runner.__init__ dumps the environment before building the logger: '
        'SegRunner.build_logger would install the console too late')
    assert 'meta' in inspect.signature(Runner.save_checkpoint).parameters
    saves = inspect.getsource(CheckpointHook)
    assert saves.count('meta=meta') >= 2, (
        'CheckpointHook no longer passes meta= by keyword: update '
        'SegRunner.save_checkpoint')


def test_iter_loop_fetches_through_dataloader_iterator():
    # PreemptionHook (segkit/engine/hooks/preemption_hook.py) wraps the
    # built train loop (runner._train_loop) in before_run, and its
    # dataloader_iterator to decide a stop after each fetch, and saves with
    # explicit meta, which save_checkpoint must keep.
    from mmengine.runner import IterBasedTrainLoop, Runner
    train = inspect.getsource(Runner.train)
    assert train.index('self.build_train_loop(') < train.index(
        "self.call_hook('before_run')") < train.index(
            'self.train_loop.run()'), (
        'Runner.train no longer builds the train loop before before_run: '
        'update PreemptionHook.before_run')
    fetches = inspect.getsource(IterBasedTrainLoop.run)
    assert 'next(self.dataloader_iterator)' in fetches, (
        'IterBasedTrainLoop.run no longer fetches through '
        'dataloader_iterator: update PreemptionHook')
    saver = inspect.getsource(Runner.save_checkpoint)
    assert "meta.setdefault('iter'" in saver, (
        'Runner.save_checkpoint overrides meta["iter"]: PreemptionHook '
        'would label its checkpoint with an unfinished iteration')
