"""How big a config's model is: parameters per module and FLOPs of one
forward pass at the test size (the first test image through the test
pipeline and the model's preprocessor), or at --shape H W; and where its
backbone's pretrained weights come from."""
import argparse

import torch

from segkit.apis import add_debug_arg, add_override_arg, load_config, run_tool
from segkit.apis.config import info_silenced
from segkit.engine.model_summary import (network_input, summarize_model,
                                         summary_line, summary_table,
                                         weights_line)
from segkit.registry import DATASETS, MODELS
from segkit.utils import ConfigValueError


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape', type=int, nargs=2, metavar=('H', 'W'),
        help='count FLOPs for an H x W image instead of the first test '
        'image (no data needed)')
    parser.add_argument('--depth', type=int, default=2,
                        help='module levels listed (default: %(default)s)')
    add_override_arg(parser, 'model.backbone.base_channels=32')
    add_debug_arg(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    model = MODELS.build(cfg.model)
    with info_silenced():  # MMEngine logs every module's initialisation
        model.init_weights()  # loads the pretrained weights a config names
    if args.shape:
        if min(args.shape) < 1:
            raise ConfigValueError(f'--shape {args.shape[0]} {args.shape[1]}:'
                                   ' expected two sizes >= 1')
        image = torch.zeros((3, *args.shape), dtype=torch.uint8)
        source = f'a {args.shape[0]}x{args.shape[1]} image'
    else:
        dataset = DATASETS.build(cfg.test_dataloader.dataset)
        sample = dataset[0]
        image = sample['inputs']
        source = (f'{sample["data_samples"].metainfo.get("img_path")} '
                  'through the test pipeline')
    summary = summarize_model(model, network_input(model, image), args.depth)
    print(f'{args.config}: {summary_line(summary)} ({source}; FLOPs count '
          'a multiply and an add apart)')
    print(summary_table(summary))
    weights = weights_line(model)
    if weights:
        print(f'backbone weights: {weights}')


if __name__ == '__main__':
    run_tool(main)
