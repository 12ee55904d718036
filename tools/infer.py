"""Predict masks for image files, folders or globs with a checkpoint.

An image that cannot be read is named in one line and skipped; the others
are written, and the tool exits with status 1 if any image failed."""
import argparse
import os.path as osp
import sys
import time
from pathlib import Path
from typing import List

import torch
from mmengine.utils import ProgressBar

from segkit.apis import (OUTPUT_FORMATS, add_debug_arg, add_override_arg,
                         add_strict_arg, add_tta_args, find_images,
                         iter_inference, model_palette, output_paths,
                         require_file, run_tool, save_prediction,
                         tta_test_cfg)
from segkit.apis.cli import CHECKPOINT_FILES, NO_STRICT_ADVICE, user_message
from segkit.apis.onnx_model import BACKENDS, load_model, resolve_backend
from segkit.apis.prediction_io import (RLE_FORMAT, check_binary,
                                       submission_row, write_submission)
from segkit.utils import SegkitUserError, ensure_writable_dir


def report_failure(failed: List[str], message: str,
                   during_progress: bool = True) -> None:
    """Name one image that could not be predicted, in one line (below the
    progress bar's, ``during_progress``)."""
    failed.append(message)
    start = '\n' if during_progress else ''
    print(f'{start}error: {message}', file=sys.stderr, flush=True)


def failure_message(image: Path, error: Exception) -> str:
    """What went wrong with ``image``, in one line."""
    text = (user_message(error) if isinstance(error, SegkitUserError) else
            f'{type(error).__name__}: {error}')
    text = ' '.join(text.split())
    return text if str(image) in text else f'{image}: {text}'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write one mask per image, at the image size')
    parser.add_argument('config', help='config file the model was trained '
                        'with (its test pipeline is used)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('inputs', nargs='+', metavar='INPUT',
                        help='image files, folders of images, or globs '
                        "(quote them: 'frames/*.png')")
    parser.add_argument('--out-dir', default='work_dirs/infer',
                        help='where <image stem>.png masks go '
                        '(default: %(default)s)')
    parser.add_argument('--format', default='index',
                        choices=OUTPUT_FORMATS + (RLE_FORMAT, ),
                        help='index: class ids; color: palette colours; '
                        'overlay: colours blended on the image; rle: one '
                        'Kaggle csv of a binary model\'s masks, for '
                        'unlabelled images (--out) (default: %(default)s)')
    parser.add_argument('--out', help='the csv of --format rle '
                        '(img,rle_mask, one row per image, sorted)')
    parser.add_argument('--backend', default='auto', choices=BACKENDS,
                        help='pytorch runs a checkpoint, onnxruntime a '
                        'tools/export.py .onnx file given in its place; '
                        'auto (default): an .onnx file with onnxruntime, a '
                        'checkpoint with the faster backend here: on a CPU '
                        'without native bf16 with the deploy extra, '
                        'onnxruntime through an export made once and kept '
                        'beside it (<checkpoint>.onnx), else PyTorch')
    parser.add_argument('--threshold', type=float,
                        help='foreground probability threshold of a binary '
                        '(num_classes=1) model')
    parser.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
    parser.add_argument('--batch-size', type=int, default=1)
    add_tta_args(parser)
    add_strict_arg(parser)
    add_override_arg(parser, 'model.test_cfg.mode=slide '
                     'model.test_cfg.crop_size=512 model.test_cfg.stride=384')
    add_debug_arg(parser)
    args = parser.parse_args()
    if args.batch_size < 1:
        parser.error(f'--batch-size {args.batch_size}: expected >= 1')
    if (args.format == RLE_FORMAT) != bool(args.out):
        parser.error('--format rle writes the csv --out names; --out is '
                     'for --format rle only')
    return args


def main() -> None:
    args = parse_args()
    tta = tta_test_cfg(args)
    unreadable: List[str] = []
    try:
        images = find_images(args.inputs, unreadable)
        out_paths = output_paths(images, args.out_dir)
    except ValueError as e:
        raise SystemExit(f'error: {e}') from None
    require_file(args.checkpoint, 'checkpoint', CHECKPOINT_FILES)
    if args.format == RLE_FORMAT:
        ensure_writable_dir(osp.dirname(osp.abspath(args.out)),
                            'the folder of --out', '--out')
    else:
        ensure_writable_dir(args.out_dir, 'the output folder', '--out-dir')
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('error: --device cuda, but no CUDA device is '
                         'available')
    resolve_backend(args.backend, args.checkpoint)  # refuses a mismatch
    model = load_model(args.config, args.checkpoint, args.device,
                       args.cfg_options, args.strict, NO_STRICT_ADVICE,
                       backend=args.backend)
    try:
        model.set_test_options(args.threshold, **tta)
    except ValueError as e:
        raise SystemExit(f'error: --threshold: {e}') from None
    if args.format == RLE_FORMAT:
        check_binary(model)
    colours = model_palette(model)
    rows = []
    failed: List[str] = []
    for message in unreadable:
        report_failure(failed, message, during_progress=False)
    progress = ProgressBar(len(images))
    start = time.perf_counter()
    for sample, image, out_path in zip(
            iter_inference(
                model, images, args.batch_size, seg_logits=False,
                on_error=lambda image, error: report_failure(
                    failed, failure_message(image, error))),
            images, out_paths):
        if sample is None:
            pass
        elif args.format == RLE_FORMAT:
            rows.append(submission_row(image, sample))
        else:
            save_prediction(sample, out_path, args.format, colours)
        progress.update()
    seconds = time.perf_counter() - start
    if rows:
        write_submission(args.out, rows)
    done = len(images) + len(unreadable) - len(failed)
    print(f'\n{done} images, {seconds:.2f} s, '
          f'{done / seconds:.2f} images/s ('
          + (f'{len(rows)} rows in {args.out}' if rows else
             f'{args.format} masks in {args.out_dir}') + ')'
          + (f'; {len(failed)} failed, named above' if failed else ''))
    if failed:
        sys.exit(1)


if __name__ == '__main__':
    run_tool(main)
