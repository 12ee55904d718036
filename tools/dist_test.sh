#!/usr/bin/env bash
# Distributed evaluation of one checkpoint through torchrun:
#   bash tools/dist_test.sh CONFIG CHECKPOINT NPROC [--nnodes N --node-rank R
#        --master-addr HOST --master-port PORT] [test.py args...]
# NPROC processes per node; on several nodes, the same command on each with
# its own --node-rank (tools/torchrun.sh says how).
set -euo pipefail
if [ $# -lt 3 ] || [[ $1 == -* ]]; then
  echo "usage: $0 CONFIG CHECKPOINT NPROC [--nnodes N --node-rank R" \
    "--master-addr HOST --master-port PORT] [test.py args...]" >&2
  exit 2
fi
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
exec bash "$(dirname "$0")/torchrun.sh" tools/test.py "$NPROC" "$CONFIG" \
  "$CHECKPOINT" "${@:4}"
