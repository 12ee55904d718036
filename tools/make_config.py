"""Write a config that trains on a folder of images and masks: how they
pair, how the masks encode classes and a train/val split are read from the
folder, and the config says what was found, for you to correct."""
import argparse
import os.path as osp

from segkit.apis import add_debug_arg, run_tool
from segkit.apis.make_config import make_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('data_dir', help='the folder of images and masks')
    parser.add_argument(
        '--out', metavar='CONFIG', help='the config to write (default: '
        'configs/<data folder name>.py); split lists and a class csv, where '
        'needed, go beside it')
    parser.add_argument('--force', action='store_true',
                        help='replace files that exist')
    add_debug_arg(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    name = osp.basename(osp.normpath(osp.abspath(args.data_dir)))
    written = make_config(args.data_dir,
                          args.out or osp.join('configs', f'{name}.py'),
                          args.force)
    width = max(len(topic) for topic, _ in written.findings)
    print(f'{written.path} written for {args.data_dir}:')
    for topic, text in written.findings:
        print(f'  {topic.ljust(width)}  {text}')
    if written.files:
        print(f'  {"files".ljust(width)}  {", ".join(written.files)}')
    print(f'train it: {written.command}')


if __name__ == '__main__':
    run_tool(main)
