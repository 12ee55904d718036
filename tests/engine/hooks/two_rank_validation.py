"""One rank of test_preemption_hook's two-rank run, in a fresh process
(forking the test process, with its threads, can hang the child):
``python two_rank_validation.py RANK PORT WORK_DIR``. Rank 1's validation
workers die of the signal; exits with EXIT_PREEMPTED if training stopped
after iteration 2, 1 otherwise."""
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parents[1])]

import torch.distributed as torch_dist  # noqa: E402
from conftest import build_runner  # noqa: E402  (tests/engine/conftest.py)
from test_preemption_hook import WorkersDieInValidation, _run  # noqa: E402

from segkit.engine.hooks import EXIT_PREEMPTED, TrainingPreempted  # noqa

VALIDATED_AT = 2


def main(rank: int, port: str, work_dir: str) -> int:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE='2',
                      MASTER_ADDR='127.0.0.1', MASTER_PORT=port)
    torch_dist.init_process_group('gloo')
    runner = _run(
        lambda **overrides: build_runner(Path(work_dir), **overrides),
        WorkersDieInValidation(rank=1), val_interval=VALIDATED_AT,
        launcher='pytorch',
        cfg=dict(model_wrapper_cfg=dict(
            type='MMDistributedDataParallel', broadcast_buffers=False,
            device_ids=None)))
    try:
        runner.train()
    except TrainingPreempted as stopped:
        return EXIT_PREEMPTED if stopped.iteration == VALIDATED_AT else 1
    return 1


if __name__ == '__main__':
    sys.exit(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
