"""Train variants of configs N at a time, then compare their scores
(segkit.apis.sweep does the work; a sweep file lists the variants)."""
import argparse
import os.path as osp
import shlex
import sys

from segkit.apis import add_debug_arg, add_override_arg, run_tool
from segkit.apis.sweep import read_sweep, run_sweep, summarise


def shell_word(arg: str) -> str:
    """``arg`` quoted for a POSIX shell, in double quotes where it holds
    single quotes (Python literals) and nothing a shell expands in them."""
    if "'" in arg and not set(arg) & set('$`\\"!'):
        return f'"{arg}"'
    return shlex.quote(arg)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('sweep', help='sweep file, e.g. configs/sweeps/'
                        'heldout_camvid.py')
    parser.add_argument('--work-dir', help='one folder per variant goes '
                        'here (default: work_dirs/sweeps/<sweep name>)')
    parser.add_argument('--parallel', type=int, default=1, metavar='N',
                        help='runs at a time (default: 1)')
    parser.add_argument('--minutes', type=float, metavar='M',
                        help='start no run after M minutes, and stop the '
                        'ones still running then (each saves a checkpoint)')
    parser.add_argument('--only', nargs='+', metavar='NAME',
                        help='run these variants only')
    parser.add_argument('--dry-run', action='store_true',
                        help='check the variants and print their commands')
    add_override_arg(parser, 'train_cfg.max_iters=100 (every variant)')
    add_debug_arg(parser)
    args = parser.parse_args()
    if args.parallel < 1:
        parser.error(f'--parallel {args.parallel}: expected 1 or more')
    return args


def main() -> None:
    args = parse_args()
    work_dir = args.work_dir or osp.join(
        'work_dirs', 'sweeps', osp.splitext(osp.basename(args.sweep))[0])
    variants = read_sweep(args.sweep, args.cfg_options, args.only)
    if args.dry_run:
        for variant in variants:
            print(' '.join(map(shell_word, variant.command(work_dir))))
        return
    outcomes = run_sweep(variants, work_dir, args.parallel, args.minutes)
    print(summarise(outcomes, work_dir))
    failed = [o.name for o in outcomes if o.status == 'failed']
    if failed:
        sys.exit(f'failed: {failed}; see {work_dir}/<name>/console.log')


if __name__ == '__main__':
    run_tool(main)
