#!/usr/bin/env bash
# Example Slurm job: one task per node, each running tools/dist_train.sh
# with that node's GPUs and the launcher flags for its place in the job.
# Adapt the #SBATCH lines to your cluster, then
#   sbatch tools/slurm_train.sh CONFIG [train.py args...]
# Preemption-safe: 120 s before the time limit Slurm sends SIGUSR1 (and on
# preemption SIGTERM) to every process; segkit finishes the iteration,
# saves a checkpoint and exits 75, and the job requeues itself. Each start
# passes --resume, which begins from scratch when the work dir is empty.
#SBATCH --job-name=segkit
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --signal=USR1@120
#SBATCH --requeue
#SBATCH --open-mode=append
set -euo pipefail
EXIT_PREEMPTED=75  # segkit.engine.hooks.EXIT_PREEMPTED
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | sed -n 1p)
export MASTER_ADDR MASTER_PORT=${MASTER_PORT:-29500}
# This shell outlives the signal too, to requeue once the tasks are done.
trap : TERM USR1
status=0
srun bash -c 'exec bash tools/dist_train.sh "$1" "${GPUS_PER_NODE:-8}" \
  --nnodes "$SLURM_NNODES" --node-rank "$SLURM_NODEID" \
  --master-addr "$MASTER_ADDR" --master-port "$MASTER_PORT" \
  --resume "${@:2}"' _ "$@" || status=$?
if [ "$status" -eq "$EXIT_PREEMPTED" ]; then
  scontrol requeue "$SLURM_JOB_ID" || echo "$0: requeue failed" >&2
fi
exit "$status"
