"""The launch scripts' own logic, with stand-ins for python, srun and
scontrol: which torchrun command each flag and variable gives, the refusals,
and the preemption status (75) that tools/torchrun.sh reports and
tools/slurm_train.sh requeues on. tests/test_multinode.py runs them for
real."""
import os
import subprocess
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from segkit.engine.hooks import EXIT_PREEMPTED, PREEMPTED_MARKER_ENV

REPO = Path(__file__).resolve().parents[2]
# A "python" that records its arguments, one per line; with PREEMPT set it
# names a checkpoint in the marker file and fails, as a preempted torchrun
# does.
FAKE_PYTHON = f'''#!/usr/bin/env bash
printf '%s\\n' "$@" > "$ARGS_FILE"
if [ -n "${{PREEMPT:-}}" ]; then
  echo /work/iter_7.pth > "${PREEMPTED_MARKER_ENV}"
  exit 1
fi
'''


def _stand_in(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def launch(tmp_path: Path, script: str, *args: str,
           **env: str) -> Tuple[int, List[str], str]:
    """Run ``bash tools/<script> args`` with the fake python; its status,
    the arguments python got, and stderr."""
    args_file = tmp_path / 'args'
    args_file.unlink(missing_ok=True)
    fake = _stand_in(tmp_path, 'python', FAKE_PYTHON)
    clean = {k: v for k, v in os.environ.items()
             if k not in ('NNODES', 'NODE_RANK', 'MASTER_ADDR', 'MASTER_PORT',
                          'PORT', 'RDZV_ID', 'SLURM_JOB_ID')}
    proc = subprocess.run(
        ['bash', f'tools/{script}', *args], cwd=REPO, text=True,
        capture_output=True, timeout=60,
        env={**clean, 'PYTHON': str(fake), 'ARGS_FILE': str(args_file),
             **env})
    got = args_file.read_text().splitlines() if args_file.exists() else []
    return proc.returncode, got, proc.stderr


def test_one_node_is_a_static_launch(tmp_path):
    code, got, _ = launch(tmp_path, 'dist_train.sh', 'cfg.py', '4',
                          '--resume', '--cfg-options', 'a=1')
    assert code == 0
    assert got == [
        '-m', 'torch.distributed.run', '--nnodes=1',
        '--master_addr=127.0.0.1', '--master_port=29500',
        '--nproc_per_node=4',
        '--signals_to_handle=SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1',
        'tools/train.py', 'cfg.py', '--resume', '--cfg-options', 'a=1',
        '--launcher', 'pytorch'
    ]


@pytest.mark.parametrize('node_rank, is_host', [('0', '1'), ('1', '0')])
def test_flags_make_a_c10d_rendezvous_anywhere_after_nproc(
        tmp_path, node_rank, is_host):
    code, got, _ = launch(tmp_path, 'dist_test.sh', 'cfg.py', 'ckpt.pth', '2',
                          '--out', 'm.json', '--nnodes', '2',
                          f'--node-rank={node_rank}', '--master-addr',
                          '10.0.0.1', '--master-port', '29400',
                          RDZV_ID='job7')
    assert code == 0
    assert got[2:7] == [
        '--nnodes=2', '--rdzv_backend=c10d', '--rdzv_endpoint=10.0.0.1:29400',
        '--rdzv_id=job7', f'--rdzv_conf=is_host={is_host}'
    ]
    assert got[-7:] == ['tools/test.py', 'cfg.py', 'ckpt.pth', '--out',
                        'm.json', '--launcher', 'pytorch']


def test_environment_gives_the_defaults_and_flags_win(tmp_path):
    env: Dict[str, str] = dict(NNODES='2', NODE_RANK='1',
                               MASTER_ADDR='10.0.0.2', PORT='29600',
                               SLURM_JOB_ID='123')
    _, got, _ = launch(tmp_path, 'dist_train.sh', 'cfg.py', '8', **env)
    assert '--rdzv_endpoint=10.0.0.2:29600' in got
    assert '--rdzv_id=123' in got and '--rdzv_conf=is_host=0' in got
    _, got, _ = launch(tmp_path, 'dist_train.sh', 'cfg.py', '8',
                       '--master-port', '29700', '--node-rank', '0', **env)
    assert '--rdzv_endpoint=10.0.0.2:29700' in got
    assert '--rdzv_conf=is_host=1' in got


@pytest.mark.parametrize('args, message', [
    (['cfg.py', 'x'], "NPROC 'x' is not a positive integer"),
    (['cfg.py', '2', '--nnodes', '2', '--node-rank', '2'],
     "--node-rank '2' is not in 0..1"),
    (['cfg.py', '2', '--master-port'], '--master-port needs a value'),
    (['cfg.py', '2', '--master-port', 'http'],
     "--master-port 'http' is not a port"),
    (['--nnodes', '2', 'cfg.py', '2'], 'usage: tools/dist_train.sh CONFIG'),
])
def test_bad_launch_arguments_are_refused_in_one_line(tmp_path, args,
                                                      message):
    code, got, stderr = launch(tmp_path, 'dist_train.sh', *args)
    assert code == 2 and not got
    assert message in stderr and len(stderr.strip().splitlines()) == 1


def test_preempted_workers_make_the_wrapper_exit_75(tmp_path):
    code, _, stderr = launch(tmp_path, 'dist_train.sh', 'cfg.py', '2',
                             PREEMPT='1')
    assert code == EXIT_PREEMPTED
    assert 'training preempted, checkpoint /work/iter_7.pth' in stderr
    code, _, _ = launch(tmp_path, 'dist_train.sh', 'cfg.py', '2')
    assert code == 0  # the marker went with the first run


def test_slurm_job_passes_its_place_and_requeues_when_preempted(tmp_path):
    """srun runs the task command once, as node 1 of 2; scontrol records
    what it is asked."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    log = tmp_path / 'scontrol.log'
    _stand_in(bin_dir, 'srun', '#!/usr/bin/env bash\n'
              'SLURM_NNODES=2 SLURM_NODEID=1 "$@"\n')
    _stand_in(bin_dir, 'scontrol', '#!/usr/bin/env bash\n'
              f'echo "$@" >> {log}\n'
              '[ "$1" = show ] && printf "gpu-a\\ngpu-b\\n"\n'
              'exit 0\n')
    env = dict(PATH=f'{bin_dir}:{os.environ["PATH"]}',
               SLURM_JOB_NODELIST='gpu-[a-b]', SLURM_JOB_ID='77',
               GPUS_PER_NODE='4')
    code, got, _ = launch(tmp_path, 'slurm_train.sh', 'cfg.py',
                          '--work-dir', 'w', PREEMPT='1', **env)
    assert code == EXIT_PREEMPTED
    assert '--rdzv_endpoint=gpu-a:29500' in got
    assert '--rdzv_id=77' in got and '--rdzv_conf=is_host=0' in got
    assert '--nproc_per_node=4' in got
    assert got[got.index('tools/train.py'):] == [
        'tools/train.py', 'cfg.py', '--resume', '--work-dir', 'w',
        '--launcher', 'pytorch']
    assert log.read_text().splitlines()[-1] == 'requeue 77'

    log.unlink()
    code, _, _ = launch(tmp_path, 'slurm_train.sh', 'cfg.py', **env)
    assert code == 0 and 'requeue' not in log.read_text()
