"""Measure a config's data pipeline, training and inference throughput on
this machine (segkit.benchmark does the work)."""
import argparse
import os.path as osp

from segkit.apis import add_debug_arg, add_override_arg, load_config, run_tool
from segkit.benchmark import (EXTRA_PARTS, PARTS, Settings, format_report,
                              profile_runner, run_benchmark)
from segkit.utils import dump_json_atomic, ensure_writable_dir


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Images/s of a config\'s data pipeline, training and '
        'inference, each the median of timed repeats after a warm-up, and '
        'their share of a measured conv peak')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--what', nargs='+', default=['all'],
        choices=PARTS + EXTRA_PARTS + ('all', ),
        help='parts to measure (default: all, which is all but overhead); '
        'the peak is needed for the shares of peak; overhead: host '
        'milliseconds of a Runner iteration beyond the bare loop\'s, hook '
        'by hook (use a tiny model, whose network costs almost nothing)')
    parser.add_argument('--iters', type=int, default=Settings.iters,
                        help='timed iterations (batches) per repeat '
                        '(default: %(default)s)')
    parser.add_argument('--warmup', type=int, default=Settings.warmup,
                        help='untimed iterations first, at least 1 '
                        '(default: %(default)s)')
    parser.add_argument('--repeats', type=int, default=Settings.repeats,
                        help='timed repeats; the median is reported '
                        '(default: %(default)s)')
    parser.add_argument('--infer-batch', type=int,
                        default=Settings.infer_batch,
                        help='the second inference batch size, after 1 '
                        '(default: %(default)s)')
    parser.add_argument('--json', metavar='OUT',
                        help='also write the figures to this JSON file')
    parser.add_argument(
        '--profile', metavar='PREFIX',
        help='then profile --iters Runner training iterations after '
        '--warmup + 1 (torch.profiler through MMEngine\'s ProfilerHook) '
        'into PREFIX.txt (operators by self time) and PREFIX.json (a '
        'Chrome trace)')
    add_override_arg(parser, 'optim_wrapper.precision=bf16 '
                     'data_root=/data/camvid')
    add_debug_arg(parser)
    args = parser.parse_args()
    try:
        args.settings = Settings(args.warmup, args.iters, args.repeats,
                                 args.infer_batch)
    except ValueError as e:
        parser.error(str(e))
    return args


def main() -> None:
    args = parse_args()
    if args.json:  # before minutes of measuring, not after
        ensure_writable_dir(osp.dirname(osp.abspath(args.json)),
                            'the folder of --json', '--json')
    cfg = load_config(args.config, args.cfg_options)
    parts = set(args.what) - {'all'}
    if 'all' in args.what:
        parts |= set(PARTS)
    result = run_benchmark(cfg, parts, args.settings)
    print(format_report(result))
    if args.json:
        dump_json_atomic(result, args.json)
        print(f'figures written to {args.json}')
    if args.profile:
        profile_runner(cfg, args.settings, args.profile)
        print(f'profile written to {args.profile}.txt and .json')


if __name__ == '__main__':
    run_tool(main)
