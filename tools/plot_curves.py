"""Plot a run's training loss, learning rate and validation metrics as PNGs."""
import argparse
from typing import Optional, Sequence

from segkit.visualization.curves import plot_curves


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        'run_dir', help='a run folder, work_dirs/<exp>/<timestamp>/ (the '
        'one holding vis_data/scalars.json)')
    parser.add_argument('--out-dir', help='where the PNGs go '
                        '(default: RUN_DIR/curves/)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    try:
        paths = plot_curves(args.run_dir, args.out_dir)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f'plot_curves: {err}') from err
    for path in paths:
        print(path)


if __name__ == '__main__':
    main()
