"""Compare runs: final and best validation scores as a table, and every
metric's curves overlaid, one line per run."""
import argparse

from segkit.visualization.compare import compare_runs


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        'runs', nargs='+', metavar='RUN', help='work dirs (work_dirs/<exp>: '
        'their newest run) or run folders (work_dirs/<exp>/<timestamp>)')
    parser.add_argument('--out-dir', default='work_dirs/compare',
                        help='where the PNGs go (default: %(default)s)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    try:
        table, paths = compare_runs(args.runs, args.out_dir)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f'error: {e}') from None
    print(table)
    print(f'\n{len(paths)} overlaid curves in {args.out_dir}: ' +
          ', '.join(p.name for p in paths))


if __name__ == '__main__':
    main()
