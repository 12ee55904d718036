#!/usr/bin/env bash
# Distributed evaluation of one checkpoint through torchrun:
#   bash tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
exec bash "$(dirname "$0")/torchrun.sh" tools/test.py "$NPROC" "$CONFIG" \
  "$CHECKPOINT" "${@:4}"
