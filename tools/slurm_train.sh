#!/usr/bin/env bash
# Example Slurm job: one task per node, each running tools/dist_train.sh
# with that node's GPUs. Adapt the #SBATCH lines to your cluster, then
#   sbatch tools/slurm_train.sh CONFIG [train.py args...]
#SBATCH --job-name=segkit
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
set -euo pipefail
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export MASTER_ADDR NNODES=$SLURM_NNODES PORT=${PORT:-29500}
srun bash -c 'NODE_RANK=$SLURM_NODEID exec bash tools/dist_train.sh "$@"' \
  _ "$1" "${GPUS_PER_NODE:-8}" "${@:2}"
