"""The Markdown summary of a tools/gpu_check.sh run: its stages, the CUDA
tests, tools/benchmark.py's figures for each config and precision, the
baselines at the same shapes, the profile of the Runner's iterations, the
time-to-quality run, and the issue's targets side by side with what was
measured.

    python tools/gpu_check_summary.py WORK_DIR > summary.md
"""
import argparse
import collections
import datetime
import json
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Dict, List, Optional

# The ratios the issue asks for (docs/performance.md, "On a GPU").
TARGETS = dict(mixed_over_fp32=2.0, runner_over_bare=0.95, data_wait=0.05,
               segkit_over_baseline=1.5)


def _rate(figure: Optional[dict]) -> Optional[float]:
    return figure['images_per_s'] if figure else None


def _fmt(value: Optional[float], digits: int = 4) -> str:
    """``digits`` significant digits, ``-`` for a figure not measured."""
    return '-' if value is None else f'{value:.{digits}g}'


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return a / b if a is not None and b else None


def benchmarks(work: Path) -> Dict[str, Dict[str, dict]]:
    """config name -> precision -> tools/benchmark.py's JSON."""
    found: Dict[str, Dict[str, dict]] = {}
    for path in sorted(work.glob('bench_*.json')):
        name, precision = re.fullmatch(r'bench_(.+)_(fp32|fp16|bf16)',
                                       path.stem).groups()
        found.setdefault(name, {})[precision] = json.loads(path.read_text())
    return found


def cuda_tests(work: Path) -> List[str]:
    path = work / 'cuda_tests.xml'
    if not path.is_file():
        return ['- not run']
    suite = ElementTree.parse(path).getroot().find('testsuite')
    counts = {k: int(suite.get(k, 0))
              for k in ('tests', 'failures', 'errors', 'skipped')}
    lines = [f"- {counts['tests']} tests: {counts['failures']} failed, "
             f"{counts['errors']} errors, {counts['skipped']} skipped"]
    skip_reasons: Dict[str, int] = collections.Counter()
    for case in suite.iter('testcase'):
        for outcome in ('failure', 'error', 'skipped'):
            found = case.find(outcome)
            if found is None:
                continue
            message = ((found.get('message') or '').splitlines() or [''])[0]
            if outcome == 'skipped':
                skip_reasons[message] += 1
            else:
                lines.append(f"  - {outcome}: {case.get('name')}: "
                             f'{message[:200]}')
    lines += [f'  - skipped {n}: {reason}'
              for reason, n in skip_reasons.items()]
    return lines


def benchmark_table(results: Dict[str, Dict[str, dict]]) -> List[str]:
    lines = ['| config | precision | train img/s (Runner) | bare loop | '
             'Runner/bare | data wait | infer img/s b=1 | infer b=N | '
             'vs fp32 (train) |', '|' + '---|' * 9]
    for name, by_precision in results.items():
        fp32 = _rate(by_precision.get('fp32', {}).get('train', {})
                     .get('runner'))
        for precision, result in by_precision.items():
            train, infer = result.get('train', {}), result.get('infer', {})
            runner, bare = _rate(train.get('runner')), _rate(
                train.get('bare_loop'))
            wait = train.get('runner', {}).get('data_wait_fraction')
            lines.append(
                f"| {name} | {result.get('precision', precision)} | "
                f'{_fmt(runner)} | {_fmt(bare)} | '
                f'{_fmt(_ratio(runner, bare), 3)} | '
                f"{'-' if wait is None else f'{wait:.1%}'} | "
                f"{_fmt(_rate(infer.get('batch_1')))} | "
                f"{_fmt(_rate(infer.get('batch_n')))} | "
                f'{_fmt(_ratio(runner, fp32), 3)} |')
    return lines


def baseline_rate(work: Path, name: str) -> Optional[float]:
    path = work / f'{name}.log'
    if not path.is_file():
        return None
    found = re.findall(r'([\d.]+) images/s', path.read_text())
    return float(found[-1]) if found else None


def time_to_quality(work: Path) -> List[str]:
    stage = re.search(r'^ttq: (.*)$', _read(work / 'stages.txt'), re.M)
    if not stage:
        return ['- not run']
    lines = [f'- stage: {stage.group(1)} (status 75: stopped by the time '
             'budget after saving)']
    scores = []
    for path in work.glob('ttq/2*/vis_data/scalars.json'):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if 'mIoU' in row:
                scores.append((row['mIoU'], row['step']))
    if scores:
        best, step = max(scores)
        lines.append(f'- best val mIoU {best:.4f} at iteration {step}, '
                     f'{len(scores)} validations')
    log = _read(work / 'ttq.log') + ''.join(
        _read(path) for path in work.glob('ttq/2*/*.log'))
    stopped = re.search(r'stopped after iteration (\d+/\d+)', log)
    if stopped:
        lines.append(f'- stopped by SIGTERM after iteration '
                     f'{stopped.group(1)}')
    return lines


def profile_head(work: Path, rows: int = 20) -> List[str]:
    """The top of each table of the profile stage, or that it did not run."""
    tables = _read(work / 'profile_unet_camvid_bf16.txt')
    if not tables:
        return ['- not run']
    lines = []
    for table in tables.strip().split('\n\n'):
        lines += ['```', *table.splitlines()[:rows + 4], '```']
    return lines


def _read(path: Path) -> str:
    return path.read_text() if path.is_file() else ''


def summary(work: Path) -> str:
    results = benchmarks(work)
    machine = next((r['machine'] for by in results.values()
                    for r in by.values()), {})
    lines = ['# tools/gpu_check.sh', '',
             f'{datetime.date.today():%Y-%m-%d}; '
             f"device: {machine.get('gpu', machine.get('device', '?'))}; "
             f"CPU: {machine.get('cpu', '?')} x{machine.get('cpus', '?')}; "
             f"torch {machine.get('torch', '?')}", '', '## Stages', '',
             *[f'- {line}' for line in _read(work / 'stages.txt')
               .splitlines()], '', '## CUDA tests', '', *cuda_tests(work),
             '', '## tools/benchmark.py (median of repeats)', '',
             *benchmark_table(results), '']
    unet = results.get('unet_camvid', {})
    runner = {p: _rate(r.get('train', {}).get('runner'))
              for p, r in unet.items()}
    infer_fp32 = _rate(unet.get('fp32', {}).get('infer', {}).get('batch_1'))
    train_base = baseline_rate(work, 'baseline_train')
    predict_base = baseline_rate(work, 'baseline_predict')
    lines += [
        '## Baselines (benchmarks/) at the same shapes', '',
        f'- train (U-Net 64, 480x352, batch 8, AMP fp16): '
        f'{_fmt(train_base)} images/s; segkit fp16 Runner '
        f"{_fmt(runner.get('fp16'))}: "
        f"{_fmt(_ratio(runner.get('fp16'), train_base), 3)}x",
        f'- predict (480x360, batch 1, fp32): {_fmt(predict_base)} '
        f'images/s; segkit fp32 inference {_fmt(infer_fp32)}: '
        f'{_fmt(_ratio(infer_fp32, predict_base), 3)}x', '',
        '## Profile of the Runner (tools/benchmark.py --profile)', '',
        *profile_head(work), '',
        '## Time to quality (configs/unet_camvid_gpu.py)', '',
        *time_to_quality(work), '', '## Targets (paper U-Net)', '']
    best_mixed = max((runner.get(p) or 0 for p in ('fp16', 'bf16')),
                     default=0) or None
    checks = [
        ('mixed precision / fp32 training', _ratio(best_mixed,
                                                   runner.get('fp32')),
         f">= {TARGETS['mixed_over_fp32']}"),
        ('segkit fp16 / baseline training', _ratio(
            runner.get('fp16'), train_base),
         f">= {TARGETS['segkit_over_baseline']}"),
    ]
    compiled = _rate(results.get('unet_camvid+compile', {}).get('bf16', {})
                     .get('train', {}).get('runner'))
    checks.append(('torch.compile / eager training (bf16 Runner)',
                   _ratio(compiled, runner.get('bf16')), '> 1 to pay'))
    for precision, result in unet.items():
        train = result.get('train', {})
        checks.append((f'Runner / bare loop ({precision})', _ratio(
            _rate(train.get('runner')), _rate(train.get('bare_loop'))),
            f">= {TARGETS['runner_over_bare']}"))
        checks.append((f'data wait ({precision})', train.get(
            'runner', {}).get('data_wait_fraction'),
            f"<= {TARGETS['data_wait']}"))
    lines += [f'- {what}: {_fmt(value, 3)} (target {target})'
              for what, value, target in checks]
    return '\n'.join(lines) + '\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('work', type=Path,
                        help='the folder tools/gpu_check.sh wrote')
    print(summary(parser.parse_args().work), end='')


if __name__ == '__main__':
    main()
