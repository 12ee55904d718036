"""tools/gpu_check_summary.py on the files a tools/gpu_check.sh run leaves:
the ratios against the issue's targets come from the figures given."""
import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    'gpu_check_summary', REPO / 'tools' / 'gpu_check_summary.py')
gpu_check_summary = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check_summary)


def bench(runner: float, bare: float, wait: float, infer: float) -> dict:
    return dict(machine=dict(gpu='Test GPU', cpu='Test CPU', cpus=16,
                             torch='2.x'),
                train=dict(runner=dict(images_per_s=runner,
                                       data_wait_fraction=wait),
                           bare_loop=dict(images_per_s=bare)),
                infer=dict(batch_1=dict(images_per_s=infer),
                           batch_n=dict(images_per_s=2 * infer)))


def test_summary_puts_each_target_beside_its_ratio(tmp_path):
    figures = {'fp32': (100, 125, 0.04, 150), 'fp16': (160, 250, 0.06, 180),
               'bf16': (150, 240, 0.07, 170)}
    for precision, args in figures.items():
        (tmp_path / f'bench_unet_camvid_{precision}.json').write_text(
            json.dumps(bench(*args)))
    (tmp_path / 'bench_unet_camvid+compile_bf16.json').write_text(
        json.dumps(bench(180, 240, 0.07, 170)))
    (tmp_path / 'baseline_train.log').write_text(
        'baseline train: 40 iterations, 200.00 images/s after 10 warm-up\n')
    (tmp_path / 'baseline_predict.log').write_text(
        'baseline predict: 50 images in 1 s, 30.00 images/s (batch 1)\n')
    (tmp_path / 'stages.txt').write_text('unet: status 0 in 50s\n')
    (tmp_path / 'profile_unet_camvid_bf16.txt').write_text(
        '2 iterations, sorted by self_cpu_time_total\nName  Self CPU\n'
        'aten::convolution_backward  1s\n')
    text = gpu_check_summary.summary(tmp_path)
    assert 'device: Test GPU; CPU: Test CPU x16' in text
    assert '- mixed precision / fp32 training: 1.6 (target >= 2.0)' in text
    assert '- segkit fp16 / baseline training: 0.8 (target >= 1.5)' in text
    assert ('- torch.compile / eager training (bf16 Runner): 1.2 '
            '(target > 1 to pay)') in text
    assert '- Runner / bare loop (fp32): 0.8 (target >= 0.95)' in text
    assert '- data wait (bf16): 0.07 (target <= 0.05)' in text
    assert 'segkit fp32 inference 150: 5x' in text
    assert 'aten::convolution_backward' in text
    assert '## CUDA tests\n\n- not run' in text
