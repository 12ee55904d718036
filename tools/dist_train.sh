#!/usr/bin/env bash
# Distributed training through torchrun and MMEngine's DDP:
#   bash tools/dist_train.sh CONFIG NPROC [train.py args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
set -euo pipefail
CONFIG=$1
NPROC=$2
exec bash "$(dirname "$0")/torchrun.sh" tools/train.py "$NPROC" "$CONFIG" \
  "${@:3}"
