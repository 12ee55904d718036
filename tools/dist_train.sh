#!/usr/bin/env bash
# Distributed training through torchrun and MMEngine's DDP:
#   bash tools/dist_train.sh CONFIG NPROC [--nnodes N --node-rank R
#        --master-addr HOST --master-port PORT] [train.py args...]
# NPROC processes per node; on several nodes, the same command on each with
# its own --node-rank (tools/torchrun.sh says how). Exit status 75: the run
# was preempted and saved its checkpoint; run it again with --resume.
set -euo pipefail
if [ $# -lt 2 ] || [[ $1 == -* ]]; then
  echo "usage: $0 CONFIG NPROC [--nnodes N --node-rank R --master-addr HOST" \
    "--master-port PORT] [train.py args...]" >&2
  exit 2
fi
CONFIG=$1
NPROC=$2
exec bash "$(dirname "$0")/torchrun.sh" tools/train.py "$NPROC" "$CONFIG" \
  "${@:3}"
