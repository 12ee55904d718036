"""Know a dataset before training on it: image sizes, how often each class
occurs, void, raw mask values that map to no class, and class weights."""
import argparse
import os.path as osp

from segkit.apis import add_debug_arg, add_override_arg, load_config, run_tool
from segkit.datasets.analysis import analyze_split, format_analysis
from segkit.datasets.class_weights import (WEIGHT_METHODS,
                                           compute_class_weights,
                                           dump_class_weights)
from segkit.registry import DATASETS
from segkit.utils import (atomic_write, dump_json_atomic,
                          ensure_writable_dir)
from segkit.visualization.class_chart import render_class_frequencies

SPLITS = ('train', 'val', 'test')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file path')
    parser.add_argument('--split', default='train', choices=SPLITS,
                        help="which dataloader's dataset (default: "
                        '%(default)s)')
    parser.add_argument(
        '--out', metavar='DIR', help='where stats.json, class_weights.json '
        'and class_frequencies.png go (default: '
        'work_dirs/<config name>/analysis_<split>)')
    parser.add_argument('--weights', default='median_frequency',
                        choices=WEIGHT_METHODS,
                        help='how class weights are computed (default: '
                        '%(default)s)')
    add_override_arg(parser, 'data_root=/data/camvid')
    add_debug_arg(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    name = osp.splitext(osp.basename(args.config))[0]
    out = args.out or osp.join('work_dirs', name, f'analysis_{args.split}')
    ensure_writable_dir(out, 'the --out folder', '--out')
    try:
        cfg = load_config(args.config, args.cfg_options)
        dataset_cfg = cfg.get(f'{args.split}_dataloader', {}).get('dataset')
        if dataset_cfg is None:
            raise KeyError(f'config {args.config} has no '
                           f'{args.split}_dataloader.dataset')
        # Only the file list is needed; the pipeline is never run.
        dataset = DATASETS.build(dict(dataset_cfg, pipeline=[]))
        stats = analyze_split(dataset)
        weights = compute_class_weights(stats.class_pixels,
                                        stats.class_image_pixels,
                                        args.weights)
    except (FileNotFoundError, KeyError, ValueError) as e:
        raise SystemExit(f'error: {e}') from None
    print(format_analysis(stats, f'{type(dataset).__name__} '
                          f'{args.split} split of {args.config} '
                          f'({dataset.data_root})'))
    print(f'\nclass weights ({args.weights}): ' + ', '.join(
        f'{c} {w:.3f}' for c, w in zip(stats.classes, weights)))
    source = dict(config=args.config, split=args.split)
    weights_file = osp.join(out, 'class_weights.json')
    dump_json_atomic(dict(stats.to_dict(), **source),
                     osp.join(out, 'stats.json'))
    dump_class_weights(weights_file, weights, stats.classes, args.weights,
                       source)
    total = max(stats.total_pixels, 1)
    atomic_write(osp.join(out, 'class_frequencies.png'),
                 render_class_frequencies(
                     stats.classes, stats.class_pixels / total,
                     stats.palette or None,
                     [(kind, stats.pixels_of(kind) / total)
                      for kind in ('void', 'unmapped')],
                     f'{name}, {args.split}: {stats.num_images} images'))
    print(f'\nstats.json, class_weights.json and class_frequencies.png in '
          f"{out}; use the weights with CrossEntropyLoss(class_weight="
          f"'{weights_file}')" + (
              f', or BCEWithLogitsLoss(pos_weight='
              f'{weights[1] / weights[0]:.3f}) for a one-output binary model'
              if len(weights) == 2 else ''))


if __name__ == '__main__':
    run_tool(main)
