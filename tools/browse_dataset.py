"""Draw what a config's pipeline feeds the model: image | ground truth,
after augmentation, for the first samples of a split (--shuffle: samples
drawn at random, reproducibly with --seed)."""
import argparse
import os.path as osp

from segkit.apis import add_debug_arg, add_override_arg, load_config, run_tool
from segkit.utils import ensure_writable_dir
from segkit.visualization import browse_dataset
from segkit.visualization.browse import SPLITS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Browse a dataset')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--split', default='train', choices=SPLITS,
                        help='which dataloader\'s dataset and pipeline')
    parser.add_argument('--n', type=int, default=8,
                        help='how many samples, from the first')
    parser.add_argument('--shuffle', action='store_true',
                        help='draw the samples at random instead')
    parser.add_argument('--seed', type=int, default=0,
                        help='with --shuffle: which samples and '
                        'augmentations (default 0)')
    parser.add_argument('--out-dir', help='where the panels go (default: '
                        'work_dirs/browse/<config name>/<split>)')
    add_override_arg(parser, 'data_root=/data/camvid')
    add_debug_arg(parser)
    args = parser.parse_args()
    if args.n < 1:
        parser.error(f'--n {args.n}: expected a count >= 1')
    return args


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    out_dir = args.out_dir or osp.join(
        'work_dirs', 'browse', osp.splitext(osp.basename(args.config))[0],
        args.split)
    ensure_writable_dir(out_dir, 'the panels folder', '--out-dir')
    paths = browse_dataset(cfg, args.split, args.n, out_dir,
                           seed=args.seed if args.shuffle else None)
    print(f'{len(paths)} panel(s) in {out_dir}')


if __name__ == '__main__':
    run_tool(main)
