"""Evaluate a checkpoint on a config's test set and print the scores."""
import argparse
import os.path as osp

from segkit.apis import (add_runner_args, add_strict_arg, add_tta_args,
                         configure_checkpoint_fit, load_config,
                         parse_runner_args, run_tool, tta_test_cfg)
from segkit.apis.cli import resolve_checkpoint
from segkit.apis.onnx_model import (BACKENDS, onnx_model_config,
                                    resolve_backend)
from segkit.engine import install_checkpoint_safety, prepare_distributed
from segkit.utils import dump_json_atomic, ensure_writable_dir
from segkit.engine.hooks import configure_hook, configure_show_dir
from segkit.registry import RUNNERS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument(
        'checkpoint', help="checkpoint file, or a training run's work dir "
        '(the best checkpoint of its last run)')
    parser.add_argument(
        '--out', help='write the metrics to this JSON file (with '
        '--format-only: the predictions, as a Kaggle RLE csv)')
    parser.add_argument(
        '--format-only', action='store_true',
        help='write predictions in the submission format instead of scoring')
    parser.add_argument(
        '--show-dir', help='draw every test sample (input | ground truth | '
        'prediction | overlay) to DIR/<image name>.png')
    parser.add_argument(
        '--worst', type=int, metavar='N',
        help='report.html shows the N lowest-scoring test images as panels '
        '(for a binary task also the empty frames with false positives); 0 '
        "for none. Default: the config's ReportHook worst, 8")
    parser.add_argument(
        '--backend', default='auto', choices=BACKENDS,
        help='pytorch scores a checkpoint, onnxruntime a tools/export.py '
        '.onnx file given in its place; auto: by the file suffix (default)')
    add_tta_args(parser)
    add_strict_arg(parser)
    add_runner_args(parser)
    args = parse_runner_args(parser)
    if args.format_only and not args.out:
        parser.error('--format-only needs --out submission.csv')
    if args.worst is not None and args.worst < 0:
        parser.error(f'--worst {args.worst}: expected a count >= 0 (0 for '
                     'none)')
    return args


def main() -> None:
    args = parse_args()
    tta = tta_test_cfg(args)
    install_checkpoint_safety()
    checkpoint = resolve_checkpoint(args.checkpoint)
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher)
    cfg.load_from = checkpoint
    if args.out:  # before the run, not after it
        ensure_writable_dir(osp.dirname(osp.abspath(args.out)),
                            'the folder of --out', '--out')
    if args.show_dir:
        ensure_writable_dir(args.show_dir, 'the --show-dir folder',
                            '--show-dir')
    configure_checkpoint_fit(cfg, args.strict)
    if tta:
        cfg.model.test_cfg = dict(cfg.model.get('test_cfg') or {}, **tta)
    if args.format_only:
        cfg.test_evaluator = dict(type='RLESubmission', out_file=args.out)
    if args.show_dir:
        configure_show_dir(cfg, args.show_dir)
    if args.worst is not None:
        configure_hook(cfg, 'ReportHook', worst=args.worst)
    if resolve_backend(args.backend, checkpoint) == 'onnxruntime':
        cfg.model = onnx_model_config(cfg, checkpoint)
        cfg.load_from = None
    prepare_distributed(cfg)
    metrics = RUNNERS.build(cfg).test()
    if args.out and not args.format_only:
        dump_json_atomic(metrics, args.out)


if __name__ == '__main__':
    run_tool(main)
