#!/usr/bin/env bash
# torchrun for segkit's tools:
#   bash tools/torchrun.sh SCRIPT NPROC [--nnodes N] [--node-rank R]
#        [--master-addr HOST] [--master-port PORT] [SCRIPT args...]
# NPROC processes per node. On several nodes, run the same command on each
# with its own --node-rank: node 0, at --master-addr, hosts the c10d
# rendezvous that the others join (global ranks follow the order they join,
# so the work dir must be on a shared filesystem). The four flags may stand
# anywhere after NPROC; NNODES, NODE_RANK, MASTER_ADDR and MASTER_PORT (or
# PORT) in the environment are their defaults (1, 0, 127.0.0.1, 29500).
# Exit status: SCRIPT's, or 75 when training was preempted (SIGTERM or
# SIGUSR1: the checkpoint is saved; requeue with --resume). torchrun itself
# would report 1: each preempted rank names its checkpoint in a marker file.
set -euo pipefail
usage() { echo "$0: $1 (usage: SCRIPT NPROC [--nnodes N] [--node-rank R]" \
  "[--master-addr HOST] [--master-port PORT] [args...])" >&2; exit 2; }
[ $# -ge 2 ] || usage 'expected SCRIPT and NPROC'
SCRIPT=$1
NPROC=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
MASTER_PORT=${MASTER_PORT:-${PORT:-29500}}
ARGS=()
while [ $# -gt 0 ]; do
  case $1 in
    --nnodes=*) NNODES=${1#*=} ;;
    --node-rank=*) NODE_RANK=${1#*=} ;;
    --master-addr=*) MASTER_ADDR=${1#*=} ;;
    --master-port=*) MASTER_PORT=${1#*=} ;;
    --nnodes|--node-rank|--master-addr|--master-port)
      [ $# -ge 2 ] || usage "$1 needs a value"
      set -- "$1=$2" "${@:3}"
      continue ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done
positive='^[1-9][0-9]*$'
[[ $NPROC =~ $positive ]] || usage "NPROC '$NPROC' is not a positive integer"
[[ $NNODES =~ $positive ]] || usage "--nnodes '$NNODES' is not a positive integer"
[[ $NODE_RANK =~ ^[0-9]+$ ]] && [ "$NODE_RANK" -lt "$NNODES" ] ||
  usage "--node-rank '$NODE_RANK' is not in 0..$((NNODES - 1))"
[[ $MASTER_PORT =~ $positive ]] || usage "--master-port '$MASTER_PORT' is not a port"

if [ "$NNODES" -eq 1 ]; then
  RENDEZVOUS=(--master_addr="$MASTER_ADDR" --master_port="$MASTER_PORT")
else
  # is_host: node 0 serves the store even where several nodes resolve
  # MASTER_ADDR as their own (two "nodes" on one machine).
  RENDEZVOUS=(--rdzv_backend=c10d --rdzv_endpoint="$MASTER_ADDR:$MASTER_PORT"
    --rdzv_id="${RDZV_ID:-${SLURM_JOB_ID:-segkit}}"
    --rdzv_conf="is_host=$((NODE_RANK == 0 ? 1 : 0))")
fi
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
SEGKIT_PREEMPTED_MARKER=$(mktemp -u "${TMPDIR:-/tmp}/segkit_preempted.XXXXXX")
export SEGKIT_PREEMPTED_MARKER
trap 'rm -f "$SEGKIT_PREEMPTED_MARKER"' EXIT
# Slurm and `timeout` signal every process of the job: torchrun forwards the
# signal to the workers and waits (30 s) for them; this shell waits too.
trap : TERM USR1
status=0
"$PYTHON" -m torch.distributed.run --nnodes="$NNODES" "${RENDEZVOUS[@]}" \
  --nproc_per_node="$NPROC" \
  --signals_to_handle=SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1 \
  "$SCRIPT" "${ARGS[@]}" --launcher pytorch || status=$?
if [ -s "$SEGKIT_PREEMPTED_MARKER" ]; then
  echo "$0: training preempted, checkpoint $(cat "$SEGKIT_PREEMPTED_MARKER")" >&2
  status=75
fi
exit "$status"
