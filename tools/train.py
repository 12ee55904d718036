"""Train a segmentor from a config: parse, merge, hand over to MMEngine."""
import argparse
import sys

from segkit.apis import (add_runner_args, add_strict_arg,
                         configure_checkpoint_fit, load_config,
                         parse_runner_args, require_file, run_tool)
from segkit.apis.cli import TRAINING_CHECKPOINT_FILES
from segkit.apis.run_length import set_time_budget
from segkit.engine import install_checkpoint_safety, prepare_distributed
from segkit.engine.hooks import EXIT_PREEMPTED, TrainingPreempted
from segkit.engine.resume import find_resume_checkpoint
from segkit.registry import RUNNERS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume', nargs='?', const='auto', default=None, metavar='CKPT',
        help='resume from CKPT, or from the newest checkpoint in the work '
        'dir when no path is given')
    parser.add_argument(
        '--load-from', metavar='CKPT',
        help='start from the weights of CKPT (fine-tuning): a new run, '
        'unlike --resume; see --no-strict for another head')
    add_strict_arg(parser)
    parser.add_argument(
        '--minutes', type=float, metavar='M',
        help='train for M minutes: the schedule is fitted to what this '
        'machine does in them (TimeBudgetTrainLoop), validations and '
        'checkpoints included')
    parser.add_argument(
        '--amp', action='store_true',
        help='mixed precision: AMP on CUDA (bf16 where the GPU has it, else '
        'fp16), bf16 autocast on a CPU with native bf16, fp32 elsewhere')
    add_runner_args(parser)
    args = parse_runner_args(parser)
    if args.resume is not None and args.load_from is not None:
        parser.error('--resume continues a run and --load-from starts a new '
                     'one from weights: give one of them')
    return args


def main() -> None:
    args = parse_args()
    install_checkpoint_safety()
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher)
    if args.minutes is not None:
        set_time_budget(cfg, args.minutes)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
    if args.load_from is not None:
        cfg.load_from = require_file(args.load_from, '--load-from checkpoint',
                                     TRAINING_CHECKPOINT_FILES)
    configure_checkpoint_fit(cfg, args.strict)
    if args.resume == 'auto':
        # None (a fresh work dir) lets MMEngine start from scratch.
        cfg.resume = True
        cfg.load_from = find_resume_checkpoint(cfg.work_dir, cfg.model)
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = require_file(args.resume, '--resume checkpoint',
                                     TRAINING_CHECKPOINT_FILES)
    prepare_distributed(cfg)
    try:
        RUNNERS.build(cfg).train()
    except TrainingPreempted:  # logged, checkpoint saved: requeue, --resume
        sys.exit(EXIT_PREEMPTED)


if __name__ == '__main__':
    run_tool(main)
