"""The benchmark's figures as a text table."""
from typing import Any, Dict, List, Tuple


def _row(part: str, what: str, rate: str = '', gflops: str = '',
         fraction: str = '') -> str:
    return f'{part:6} {what:58} {rate:>10} {gflops:>10} {fraction:>8}'.rstrip()


def _figures(entry: dict) -> Tuple[str, str, str]:
    """An entry's images/s, GFLOP/s and share of the peak, as cells."""
    fraction = entry.get('peak_fraction')
    return (f'{entry["images_per_s"]:.2f}',
            f'{entry["gflops"]:.1f}' if 'gflops' in entry else '',
            f'{100 * fraction:.1f} %' if fraction is not None else '')


def format_report(result: Dict[str, Any]) -> str:
    """``result`` as a table: a row per figure (images/s, GFLOP/s, share of
    the conv peak for the precision used), then the context they need."""
    m, s = result['machine'], result['settings']
    gpu = f' ({m["gpu"]})' if 'gpu' in m else ''
    lines = [
        f'config: {result["config"]}',
        f'machine: {m["cpu"]}, {m["cpus"]} CPUs, torch {m["torch"]}, '
        f'{m["threads"]} threads, device {m["device"]}{gpu}, native CPU '
        f'bf16: {"yes" if m["cpu_native_bf16"] else "no"}',
        f'training precision (resolved): {result["precision"]}',
        f'each figure: median of {s["repeats"]} repeats x {s["iters"]} '
        f'iterations after {s["warmup"]} warm-up',
    ]
    if set(result) & {'peak', 'infer', 'data', 'train'}:
        lines += ['', _row('part', 'measure', 'images/s', 'GFLOP/s',
                           'of peak')]
    notes = []
    if 'peak' in result:
        for name, gflops in result['peak']['gflops'].items():
            lines.append(_row('peak', f'conv microbenchmark, {name}', '',
                              f'{gflops:.1f}'))
        notes.append(f'peak: {result["peak"]["conv"]}')
    if 'infer' in result:
        inf = result['infer']
        for key in ('batch_1', 'batch_n'):
            lines.append(_row('infer', f'inference(), batch '
                              f'{inf[key]["batch_size"]}, {inf["precision"]}',
                              *_figures(inf[key])))
        notes.append(
            f'infer: {inf["image_size"][0]}x{inf["image_size"][1]} images, '
            f'network input {inf["input_size"][0]}x{inf["input_size"][1]}, '
            f'{inf["gflop_per_image"]:.2f} GFLOP/image')
    if result.get('infer_onnx'):
        deploy = result['infer_onnx']
        for backend, label in (('pytorch_fp32', 'PyTorch'),
                               ('onnxruntime', 'onnxruntime')):
            for key in ('batch_1', 'batch_n'):
                entry = deploy[backend][key]
                lines.append(_row('infer', f'inference(), {label}, batch '
                                  f'{entry["batch_size"]}, fp32',
                                  *_figures(entry)))
        notes.append('infer: onnxruntime / PyTorch fp32 = ' + ', '.join(
            f'{ratio:.2f}x (batch {deploy["onnxruntime"][key]["batch_size"]})'
            for key, ratio in deploy['speedup'].items()))
    if 'data' in result:
        d = result['data']
        persistent = ', persistent' if d['persistent_workers'] else ''
        lines += [
            _row('data', 'pipeline, single process',
                 *_figures(d['single_process'])),
            _row('data', f'pipeline, DataLoader ({d["num_workers"]} workers'
                 f'{persistent})', *_figures(d['dataloader'])),
            _row('data', 'floor: cv2.imread of image + mask',
                 *_figures(d['decode_floor'])),
        ]
        notes.append(f'data: batches of {d["batch_size"]}, opencv threads '
                     f'{d["opencv_threads"]}')
    if 'train' in result:
        t, model = result['train'], result['model']
        where = f'batch {t["batch_size"]}, {result["precision"]}'
        lines += [
            _row('train', f'Runner ({where})', *_figures(t['runner'])),
            _row('train', f'bare loop, tensors in memory ({where})',
                 *_figures(t['bare_loop'])),
        ]
        size = model['train_input_size']
        notes.append(
            f'train: {model["params"] / 1e6:.2f} M parameters, input '
            f'{size[0]}x{size[1]}, {model["forward_gflop_per_image"]:.2f} '
            f'GFLOP/image forward, {model["train_gflop_per_image"]:.2f} '
            'forward+backward; the Runner waited for data '
            f'{100 * t["runner"]["data_wait_fraction"]:.1f} % of the time')
    if 'overhead' in result:
        lines += [''] + overhead_table(result['overhead'])
    return '\n'.join(lines + [''] + notes)


def overhead_table(overhead: Dict[str, Any]) -> List[str]:
    """The host milliseconds of a Runner iteration beyond the bare loop's,
    and where an iteration's time goes, hook by hook."""

    def row(what: str, ms: float) -> str:
        return f'{"host":6} {what:58} {ms:>10.2f} ms/iter'

    rows = [
        row('Runner iteration', overhead['iteration_ms']),
        row('bare loop iteration, tensors in memory',
            overhead['bare_loop_ms']),
        row('Runner over the bare loop', overhead['overhead_ms']),
        row('  train_step (preprocessing, forward, backward, step)',
            overhead['train_step_ms']),
        row('  waiting for the next batch', overhead['data_wait_ms']),
    ]
    rows += [row(f'  {hook}', ms) for hook, ms in overhead['hooks_ms'].items()]
    rows.append(row('  the loop itself (the rest)', overhead['loop_ms']))
    return rows + [f'overhead: {overhead["iterations"]} iterations after the '
                   'warm-up, host time; the device synchronised at both ends '
                   'only']
