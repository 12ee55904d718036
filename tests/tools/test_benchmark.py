"""tools/benchmark.py on the bundled CamVid sample with a tiny U-Net: every
part runs and the JSON holds every figure; no figure is compared with a
speed, only with what it must be whatever the machine."""
import json
import re
from pathlib import Path

import pytest

from segkit.apis import load_config
from segkit.benchmark import (Settings, repeat_rates, runner_config,
                              timed_rates)
from segkit.engine.optim import cpu_supports_bf16
from tool_process import run_python

pytestmark = pytest.mark.slow  # runs the real tools in subprocesses

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / 'configs' / 'unet_camvid_quick.py')
TINY = ['model.backbone.base_channels=4', 'model.backbone.depth=3',
        'model.data_preprocessor.size_divisor=8',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=1']
RATE = {'images_per_s', 'repeats'}
EXPECTED_KEYS = {
    '': {'config', 'machine', 'settings', 'precision', 'peak', 'infer',
         'infer_onnx', 'data', 'model', 'train', 'overhead'},
    'machine': {'device', 'cpu', 'cpus', 'threads', 'torch',
                'cpu_native_bf16'},
    'peak': {'conv', 'gflop_per_call', 'gflops'},
    'infer': {'precision', 'image_size', 'input_size', 'gflop_per_image',
              'batch_1', 'batch_n'},
    'infer.batch_1': RATE | {'batch_size', 'gflops', 'peak_fraction'},
    'infer.batch_n': RATE | {'batch_size', 'gflops', 'peak_fraction'},
    'infer_onnx': {'pytorch_fp32', 'onnxruntime', 'speedup'},
    'infer_onnx.speedup': {'batch_1', 'batch_n'},
    'infer_onnx.onnxruntime': {'batch_1', 'batch_n'},
    'infer_onnx.onnxruntime.batch_n': RATE | {'batch_size'},
    'infer_onnx.pytorch_fp32.batch_1': RATE | {'batch_size'},
    'data': {'batch_size', 'num_workers', 'persistent_workers',
             'opencv_threads', 'single_process', 'dataloader',
             'decode_floor'},
    'data.single_process': RATE,
    'data.dataloader': RATE | {'warmup'},
    'data.decode_floor': RATE,
    'model': {'params', 'train_input_size', 'forward_gflop_per_image',
              'train_gflop_per_image'},
    'train': {'batch_size', 'runner', 'bare_loop'},
    'train.runner': RATE | {'data_wait_fraction', 'gflops',
                            'peak_fraction'},
    'train.bare_loop': RATE | {'gflops', 'peak_fraction'},
    'overhead': {'iterations', 'iteration_ms', 'bare_loop_ms', 'overhead_ms',
                 'train_step_ms', 'data_wait_ms', 'hooks_ms', 'loop_ms'},
}


def at(result: dict, dotted: str) -> dict:
    for key in filter(None, dotted.split('.')):
        result = result[key]
    return result


@pytest.fixture(scope='module')
def benchmark(tmp_path_factory, camvid_sample_root):
    out = tmp_path_factory.mktemp('benchmark') / 'figures.json'
    proc = run_python(
        ['tools/benchmark.py', CONFIG, '--what', 'all',
         'overhead',
         '--iters', '2', '--warmup', '1', '--repeats', '2',
         '--infer-batch', '2', '--json', str(out), '--profile',
         str(out.parent / 'profile'), '--cfg-options',
         f'data_root={camvid_sample_root}', 'optim_wrapper.precision=bf16',
         *TINY], timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def test_json_has_every_figure(benchmark):
    result, _ = benchmark
    for where, keys in EXPECTED_KEYS.items():
        assert set(at(result, where)) == keys, where
    assert result['settings'] == dict(warmup=1, iters=2, repeats=2,
                                      infer_batch=2,
                                      statistic='median of repeats')
    assert result['infer']['batch_n']['batch_size'] == 2
    assert result['train']['batch_size'] == result['data']['batch_size'] == 2
    assert result['machine']['threads'] >= 1
    # 2 x 3x3 x 256 x 256 multiply-adds per pixel of a batch of 2 on a CPU
    assert result['peak']['conv'].endswith('batch 2, channels_last, forward')
    assert result['peak']['gflop_per_call'] == pytest.approx(
        2 * 9 * 256 * 256 * 64 * 64 * 2 / 1e9)


def test_rates_are_positive_medians_of_the_repeats(benchmark):
    result, _ = benchmark
    for where, keys in EXPECTED_KEYS.items():
        if RATE <= keys:
            entry = at(result, where)
            assert len(entry['repeats']) == 2, where
            assert min(entry['repeats']) > 0, where
            # the median of two is their mean
            assert entry['images_per_s'] == pytest.approx(
                sum(entry['repeats']) / 2), where
    assert all(g > 0 for g in result['peak']['gflops'].values())
    assert set(result['peak']['gflops']) >= {'fp32', 'bf16'}
    # the workers' first prefetched batches are drained before timing
    assert result['data']['dataloader']['warmup'] >= 2


def test_shares_of_peak_and_precisions(benchmark):
    result, _ = benchmark
    # asked for bf16: autocast where the CPU has native bf16, else fp32
    assert result['precision'] == ('bf16' if cpu_supports_bf16() else 'fp32')
    assert result['infer']['precision'] in ('fp32', 'bf16')
    for where in ('train.runner', 'train.bare_loop', 'infer.batch_1',
                  'infer.batch_n'):
        entry = at(result, where)
        assert entry['gflops'] > 0, where
        assert 0 < entry['peak_fraction'] < 1.5, where
    assert 0 <= result['train']['runner']['data_wait_fraction'] < 1


def test_flops_follow_the_input_sizes(benchmark):
    result, _ = benchmark
    model, infer = result['model'], result['infer']
    assert model['train_input_size'] == [176, 240]  # the config's crop
    assert infer['image_size'] == [360, 480]  # native CamVid
    assert infer['input_size'] == [184, 240]  # 240x180, padded to 8
    # forward + backward costs between 2 and 3 forwards
    assert 2 < (model['train_gflop_per_image'] /
                model['forward_gflop_per_image']) <= 3
    # a fully convolutional net: FLOPs in proportion to pixels
    assert infer['gflop_per_image'] == pytest.approx(
        model['forward_gflop_per_image'] * 184 / 176, rel=1e-3)


def test_stdout_table(benchmark):
    _, stdout = benchmark
    for row in ('peak   conv microbenchmark, fp32', 'infer  inference()',
                'data   pipeline, single process', 'data   floor',
                'train  Runner', 'train  bare loop',
                'infer  inference(), PyTorch, batch 1, fp32',
                'infer  inference(), onnxruntime, batch 2, fp32'):
        assert row in stdout
    assert 'training precision (resolved): ' in stdout
    assert re.search(r'onnxruntime / PyTorch fp32 = [\d.]+x \(batch 1\)',
                     stdout)


def test_profile_of_the_runner_iterations(benchmark, tmp_path_factory):
    _, stdout = benchmark
    prefix = Path(re.search(r'profile written to (\S+)\.txt', stdout)[1])
    table = prefix.with_suffix('.txt').read_text()
    # --iters 2 iterations profiled; the convolutions' backward is there
    assert table.startswith('2 iterations, sorted by self_cpu_time_total')
    assert 'aten::convolution_backward' in table
    trace = json.loads(prefix.with_suffix('.json').read_text())
    names = {event.get('name') for event in trace['traceEvents']}
    assert 'aten::convolution_backward' in names


def test_repeat_rates_splits_iterations_into_repeats():
    # warm-up ends at t=1; repeats of 2 iterations end at t=3 and t=4
    ends = [1.0, 2.0, 3.0, 3.5, 4.0]
    assert repeat_rates(ends, [4, 2, 2, 1, 3], 1, 2, 2) == [2.0, 4.0]
    with pytest.raises(ValueError, match='expected 5'):
        repeat_rates(ends[:4], [1] * 4, 1, 2, 2)


def test_overhead_splits_a_runner_iteration_hook_by_hook(benchmark):
    result, stdout = benchmark
    overhead = result['overhead']
    hooks = overhead['hooks_ms']
    # Every hook of the run is timed, the clock's own excepted.
    assert {'DeferredRuntimeInfoHook', 'NonFiniteLossHook', 'LoggerHook',
            'IterTimerHook', 'ParamSchedulerHook'} <= set(hooks)
    assert 'IterClock' not in hooks
    assert all(ms >= 0 for ms in hooks.values())
    assert list(hooks.values()) == sorted(hooks.values(), reverse=True)
    assert overhead['iterations'] == 4  # repeats x iters, one window
    parts = (overhead['train_step_ms'] + overhead['data_wait_ms'] +
             sum(hooks.values()) + overhead['loop_ms'])
    assert parts == pytest.approx(overhead['iteration_ms'])
    assert overhead['overhead_ms'] == pytest.approx(
        overhead['iteration_ms'] - overhead['bare_loop_ms'])
    assert overhead['train_step_ms'] > 0
    assert overhead['data_wait_ms'] >= -1e-6 and overhead['loop_ms'] >= -1e-6
    assert re.search(r'host +Runner over the bare loop +-?\d+\.\d\d ms/iter',
                     stdout)


def test_the_device_is_synchronised_at_the_ends_of_the_windows_only():
    """One sync at each end of a timed window, none inside: iterations
    overlap host and device work there, as in a run."""
    settings = Settings(warmup=2, iters=3, repeats=2)
    done, synced_after = [], []
    rates = timed_rates(lambda: done.append(1) or 1, settings,
                        lambda: synced_after.append(len(done)))
    assert synced_after == [2, 5, 8]  # after the warm-up, then each window
    assert len(done) == 8 and len(rates) == 2


def test_settings_need_at_least_one_of_each():
    with pytest.raises(ValueError, match='warmup=0'):
        Settings(warmup=0)
    with pytest.raises(ValueError, match='infer_batch'):
        Settings(infer_batch=1.5)


def test_runner_config_trains_only_the_timed_iterations():
    cfg = load_config(CONFIG)
    run = runner_config(cfg, Settings(warmup=2, iters=3, repeats=4), '/x')
    assert run.train_cfg.max_iters == 14
    assert run.val_dataloader is None and run.val_cfg is None
    assert run.default_hooks.checkpoint is None
    assert run.default_hooks.nonfinite_loss.skip_nonfinite
    assert run.default_hooks.logger.interval > 14
    # panels and report off, every other custom hook kept
    kinds = [hook['type'] for hook in cfg.custom_hooks]
    assert {'SegVisHook', 'ReportHook', 'NumClassCheckHook'} <= set(kinds)
    assert [hook['type'] for hook in run.custom_hooks] == [
        kind for kind in kinds if kind not in ('SegVisHook', 'ReportHook')]
    assert run.work_dir == '/x'
    # the config itself is untouched
    assert cfg.val_dataloader is not None
    assert cfg.default_hooks.checkpoint is not None


def test_bare_loop_counts_the_flops_of_a_model_with_image_pooling(
        camvid_sample_root):
    """DeepLabV3's ASPP pools each image to one value per channel before a
    batch norm, which training refuses for a batch of one image: FLOPs are
    counted on the whole batch (of 2 here) and divided."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    from segkit.apis import init_model
    from segkit.benchmark.parts import bare_loop

    cfg = load_config(str(REPO / 'configs' / 'deeplabv3_mbv3_camvid_quick.py'),
                      {'data_root': str(camvid_sample_root),
                       'train_dataloader.batch_size': 2,
                       'optim_wrapper.precision': 'fp32'})
    with DefaultScope.overwrite_default_scope('segkit'):
        model = init_model(cfg)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        info, rate = bare_loop(cfg, model, wrapper, Settings(1, 1, 1, 1),
                               lambda: None)
    assert info['train_gflop_per_image'] > 2 * info[
        'forward_gflop_per_image'] > 0
    assert rate['images_per_s'] > 0


def test_a_json_folder_that_cannot_be_written_is_one_line(tmp_path):
    (tmp_path / 'a_file').write_text('')
    proc = run_python(
        ['tools/benchmark.py', CONFIG, '--json',
         str(tmp_path / 'a_file' / 'figures.json')], timeout=120)
    assert proc.returncode == 1
    assert proc.stderr == (
        f'error: cannot write the folder of --json {tmp_path}/a_file: it is '
        'a file; choose another with --json\n')
