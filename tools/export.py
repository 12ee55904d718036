"""Export a trained segmentor to ONNX, with a model.json sidecar, and check
the file against PyTorch in onnxruntime; with --int8, also an int8 model
quantised by onnxruntime."""
import argparse
import os.path as osp

import cv2
import numpy as np

from segkit.apis import (add_debug_arg, add_override_arg, find_images,
                         init_model, run_tool)
from segkit.apis.export import (DEFAULT_OPSET, ExportOptions, export_onnx,
                                sidecar, sidecar_path)
from segkit.apis.export_check import check_parity, format_parity, parity_ok
from segkit.apis.quantize import (check_calibration, export_int8, int8_path,
                                  int8_summary)
from segkit.utils import (MissingPathError, dump_json_atomic,
                          ensure_writable_dir)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config the model was trained with')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='the ONNX file (default: '
                        'work_dirs/<config name>/model.onnx); model.json '
                        'goes beside it as <name>.json')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET,
                        help='ONNX opset (default: %(default)s)')
    parser.add_argument('--dynamic', action='store_true',
                        help='any batch size and image size')
    parser.add_argument('--batch', type=int, default=1,
                        help='batch size of a static export (default: 1)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size of a static export (the padded '
                        'size, or the raw size with --with-preprocess)')
    parser.add_argument('--with-preprocess', action='store_true',
                        help='the graph takes a raw uint8 (N, H, W, 3) BGR '
                        'image and normalises and pads it itself')
    parser.add_argument('--with-argmax', action='store_true',
                        help='the graph returns uint8 class ids, not logits')
    parser.add_argument('--check', nargs='+', metavar='IMG', default=[],
                        help='images (files, folders, globs) to compare '
                        'ONNX with PyTorch on (default: one random image)')
    parser.add_argument('--int8', action='store_true',
                        help='also write <name>_int8.onnx, quantised by '
                        'onnxruntime (static, QDQ) for the CPU')
    parser.add_argument('--calib', type=int, metavar='N',
                        help='with --int8: calibrate on N training images, '
                        'run through the test pipeline (e.g. 64)')
    add_override_arg(parser, 'model.test_cfg.precision=fp32')
    add_debug_arg(parser)
    args = parser.parse_args()
    if args.batch < 1:
        parser.error(f'--batch {args.batch}: expected >= 1')
    if args.shape and min(args.shape) < 1:
        parser.error(f'--shape {args.shape}: expected positive sides')
    return args


def check_images(paths: list, shape: tuple) -> list:
    """``(name, BGR uint8 image)`` of each ``--check`` image, or one random
    image of ``shape`` when none is given."""
    if not paths:
        rng = np.random.default_rng(0)
        return [('<random>', rng.integers(0, 256, (*shape, 3), np.uint8))]
    images = []
    for path in find_images(paths):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise MissingPathError(f'--check {path}: cannot read the image')
        images.append((path.name, image))
    return images


def main() -> None:
    args = parse_args()
    name = osp.splitext(osp.basename(args.config))[0]
    out = args.out or osp.join('work_dirs', name, 'model.onnx')
    options = ExportOptions(
        opset=args.opset, dynamic=args.dynamic, batch=args.batch,
        shape=tuple(args.shape) if args.shape else None,
        with_preprocess=args.with_preprocess, with_argmax=args.with_argmax)
    check_calibration(args.int8, args.calib, options.io)
    if not osp.isfile(args.checkpoint):
        raise MissingPathError(f'checkpoint not found: {args.checkpoint}')
    ensure_writable_dir(osp.dirname(osp.abspath(out)), 'the folder of --out',
                        '--out')
    model = init_model(args.config, args.checkpoint, 'cpu', args.cfg_options)
    io = export_onnx(model, out, options)
    meta = sidecar(model, options, io, args.config, args.checkpoint)
    dump_json_atomic(meta, sidecar_path(out))
    print(f'{out}: {osp.getsize(out) / 2**20:.1f} MiB, opset {args.opset}, '
          f'input {io["input"]["name"]} {io["input"]["shape"]} '
          f'{io["input"]["dtype"]}, output {io["output"]["name"]} '
          f'{io["output"]["shape"]} {io["output"]["dtype"]}; onnx.checker '
          f'passed; sidecar {sidecar_path(out)}')
    divisor = model.data_preprocessor.pad_size_divisor
    images = check_images(args.check,
                          options.shape or (6 * divisor, 8 * divisor))
    rows = check_parity(model, out, images, options)
    print(format_parity(rows))
    if not parity_ok(rows):
        raise SystemExit(1)
    if args.int8:
        int8_file = int8_path(out)
        record = export_int8(model, out, int8_file, args.calib)
        dump_json_atomic(dict(meta, int8=record), sidecar_path(int8_file))
        rows = check_parity(model, int8_file, images, options)
        print(int8_summary(int8_file, record,
                           min(row.agreement for row in rows)))


if __name__ == '__main__':
    run_tool(main)
