"""Measure the model zoo on this machine and write docs/model_zoo.md
(segkit.benchmark.zoo does the work; train the quick configs first)."""
import argparse

from segkit.apis import add_debug_arg, run_tool
from segkit.benchmark import Settings
from segkit.benchmark.zoo import write_zoo

# (config, its quick CPU variant or None), in the order of the table.
ZOO = [
    ('configs/unet_camvid.py', 'configs/unet_camvid_quick.py'),
    ('configs/unet_r18_camvid.py', 'configs/unet_r18_camvid_quick.py'),
    ('configs/deeplabv3_mbv3_camvid.py',
     'configs/deeplabv3_mbv3_camvid_quick.py'),
    ('configs/segformer_pvtv2_b0_camvid.py',
     'configs/segformer_pvtv2_b0_camvid_quick.py'),
    ('configs/deeplabv3_r50_camvid.py', None),
    ('configs/deeplabv3plus_r50_camvid.py', None),
    ('configs/fpn_r50_camvid.py', 'configs/fpn_r50_camvid_quick.py'),
    ('configs/unet_carvana.py', 'configs/unet_carvana_quick.py'),
    ('configs/unet_r18_carvana.py', 'configs/unet_r18_carvana_quick.py'),
    ('configs/unet_effl0_camvid.py', 'configs/unet_effl0_camvid_quick.py'),
    ('configs/fpn_effl0_camvid.py', 'configs/fpn_effl0_camvid_quick.py'),
    ('configs/unet_effl0_carvana.py', 'configs/unet_effl0_carvana_quick.py'),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='docs/model_zoo.md')
    parser.add_argument('--iters', type=int, default=2,
                        help='timed iterations per repeat (default: 2)')
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument(
        '--only', nargs='+', metavar='CONFIG',
        choices=[config for config, _ in ZOO],
        help='measure these rows only, and keep the others as last measured '
        '(in the --out page\'s .json)')
    add_debug_arg(parser)
    args = parser.parse_args()
    rows = write_zoo(ZOO, args.out,
                     Settings(warmup=1, iters=args.iters,
                              repeats=args.repeats), only=args.only)
    print(f'{len(rows)} rows written to {args.out}')


if __name__ == '__main__':
    run_tool(main)
