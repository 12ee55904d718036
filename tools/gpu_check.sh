#!/usr/bin/env bash
# Every GPU check of issue 14, for a bare CUDA machine reached for a short
# time (docs/performance.md, "On a GPU"). STAGES picks which run, in this
# order; each stage has a time limit and none runs past GPU_CHECK_SECONDS:
#   tests      the CUDA tests (tests/cuda: precisions, GradScaler,
#              channels_last, cuDNN autotuner, pinned copies, autocast,
#              slide memory, NCCL);
#   unet       tools/benchmark.py for the paper U-Net in fp32, fp16 and bf16:
#              train and inference images/s, Runner vs bare loop, data wait;
#   baselines  benchmarks/baseline_unet_train.py and baseline_predict.py at
#              the same shapes;
#   overhead   tools/benchmark.py --what overhead of a tiny U-Net (bf16): the
#              host milliseconds of a Runner iteration over the bare loop's,
#              hook by hook;
#   profile    tools/benchmark.py --profile of the U-Net's Runner iterations
#              (bf16): where the time beyond the bare loop's goes;
#   compile    the U-Net's training with its network compiled (compile=True),
#              bf16;
#   deeplab    DeepLabV3-R50 as the U-Net;
#   zoo        the zoo's CamVid configs in bf16 (ZOO, a list of configs);
#   ttq        time to quality: configs/unet_camvid_gpu.py for TTQ_SECONDS
#              (its schedule sized from the bf16 images/s measured, else
#              TTQ_IMAGES_PER_S), best val mIoU. Its time is kept back from
#              the start: stages that would eat into it are cut short or
#              skipped, and the summary says which.
# Prepare here, then send it with .device:
#   bash ../shared/device/prepare.sh --camvid      # .device/: wheels, JPEG CamVid
#   source .device/setup.sh && bash tools/gpu_check.sh   # on the GPU machine
# Writes $OUT (default work_dirs/gpu_check): summary.md (the figures and the
# targets), gpu_check.log (each stage's status and time) and results.tar.gz
# (every log, benchmark JSON, profile and report, no checkpoint or panel).
# Knobs, also for a dry run on a CPU: STAGES, PRECISIONS, BENCH_ARGS,
# BENCH_LIMIT, BASELINE_ITERS, BASELINE_WARMUP, BASELINE_N, TTQ_SECONDS,
# TTQ_IMAGES_PER_S, GPU_CHECK_SECONDS, EXTRA_OPTIONS (--cfg-options for every
# segkit run), PYTHON.
set -uo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
DEADLINE=$((START + ${GPU_CHECK_SECONDS:-560}))
TTQ_SECONDS=${TTQ_SECONDS:-300}
# Which stages run, in their fixed order; one 10-minute call holds about
# half of them (docs/performance.md, "On a GPU", gives the two calls).
STAGES=${STAGES:-tests unet baselines overhead profile compile deeplab zoo ttq}
# want STAGE: whether STAGES names it.
want() { [[ " $STAGES " == *" $1 "* ]]; }
# The U-Net's bf16 training images/s that sizes the time-to-quality run
# when this call did not measure it (the H100's, at batch 16, 2026-11-26).
TTQ_IMAGES_PER_S=${TTQ_IMAGES_PER_S:-239}
PRECISIONS=${PRECISIONS:-fp32 fp16 bf16}
BENCH_ARGS=${BENCH_ARGS:---warmup 10 --iters 10 --repeats 3}
BENCH_LIMIT=${BENCH_LIMIT:-120}
BASELINE_ITERS=${BASELINE_ITERS:-40}
BASELINE_WARMUP=${BASELINE_WARMUP:-10}
BASELINE_N=${BASELINE_N:-50}
ZOO=${ZOO:-configs/unet_r18_camvid.py configs/deeplabv3plus_r50_camvid.py
configs/fpn_r50_camvid.py configs/segformer_pvtv2_b0_camvid.py
configs/deeplabv3_mbv3_camvid.py}
PY=${PYTHON:-python3}
OUT=${OUT:-work_dirs/gpu_check}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
CAMVID=${CAMVID_ROOT:-../shared/data/camvid}
RESERVE=0  # seconds kept back for the time-to-quality run
if want ttq; then RESERVE=$((TTQ_SECONDS + 30)); fi
mkdir -p "$OUT"

# The JPEG copy of CamVid names its frames .jpg.
DATA=("data_root=$CAMVID")
if compgen -G "$CAMVID/train/*.jpg" > /dev/null; then
  for split in train val test; do
    DATA+=("${split}_dataloader.dataset.img_suffix=.jpg")
  done
fi
# shellcheck disable=SC2206  # a list of key=value words
DATA+=(${EXTRA_OPTIONS:-})

# stage NAME LIMIT_S [--reserve S] COMMAND...: run COMMAND, its output in
# $WORK/NAME.log, for at most LIMIT_S seconds and never into the last S
# seconds before the deadline; record its status and duration.
stage() {
  local name=$1 limit=$2 reserve=0 left t0 rc
  shift 2
  if [ "$1" = --reserve ]; then
    reserve=$2
    shift 2
  fi
  left=$((DEADLINE - reserve - $(date +%s)))
  [ "$limit" -gt "$left" ] && limit=$left
  if [ "$limit" -lt 15 ]; then
    echo "$name: skipped, ${left}s left" | tee -a "$WORK/stages.txt"
    return 1
  fi
  t0=$(date +%s)
  timeout -k 15 "$limit" "$@" > "$WORK/$name.log" 2>&1
  rc=$?
  echo "$name: status $rc in $(($(date +%s) - t0))s (limit ${limit}s)" |
    tee -a "$WORK/stages.txt"
  tail -n 3 "$WORK/$name.log"
  return "$rc"
}

# bench CONFIG PRECISION PARTS [TAG OPTION...]: tools/benchmark.py in that
# precision (for training and inference), with any further --cfg-options,
# into $WORK/bench_<config name><TAG>_PRECISION.json.
bench() {
  local config=$1 precision=$2 parts=$3 name
  name=$(basename "$config" .py)${4:-}
  shift $(($# < 4 ? $# : 4))
  # shellcheck disable=SC2086  # BENCH_ARGS and PARTS are lists of words
  stage "bench_${name}_$precision" "$BENCH_LIMIT" --reserve "$RESERVE" \
    "$PY" tools/benchmark.py "$config" --what $parts $BENCH_ARGS \
    --json "$WORK/bench_${name}_$precision.json" --cfg-options \
    "${DATA[@]}" "optim_wrapper.precision=$precision" \
    "model.test_cfg.precision=$precision" "$@"
}

# bench_precisions CONFIG: bench in each of PRECISIONS, all parts first.
bench_precisions() {
  local precision what=all
  for precision in $PRECISIONS; do
    bench "$1" "$precision" "$what"
    what='train infer'
  done
}

# The training iterations that fill 80 % of $1 seconds at the U-Net's bf16
# training speed, batch 16: measured by this call, else TTQ_IMAGES_PER_S.
ttq_iterations() {
  "$PY" - "$WORK" "$1" "$TTQ_IMAGES_PER_S" <<'PY'
import json, pathlib, sys
work, seconds, ips = pathlib.Path(sys.argv[1]), *map(float, sys.argv[2:])
path = work / 'bench_unet_camvid_bf16.json'
if path.is_file():
    ips = json.loads(path.read_text())['train']['runner']['images_per_s']
print(max(20, int(0.8 * seconds * ips / 16)))
PY
}

main() {
  echo "gpu_check $(date -u +%FT%TZ)," \
    "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  nvidia-smi -L 2>/dev/null || echo 'no nvidia-smi'
  "$PY" -c 'import torch; print("torch", torch.__version__, "CUDA",
    torch.version.cuda, "cuDNN", torch.backends.cudnn.version(),
    torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU")'

  # tests: the CUDA tests (skipped, with their reason, where there is no
  # GPU); 150 s on an H100.
  want tests && stage cuda_tests 180 --reserve "$RESERVE" \
    "$PY" -m pytest tests/cuda -q -rs -p no:cacheprovider \
    --junitxml="$WORK/cuda_tests.xml"

  # unet: the paper U-Net in each precision; the data pipeline and the
  # conv peak once.
  want unet && bench_precisions configs/unet_camvid.py

  # baselines: at its shapes, configs/unet_camvid.py trains on 352x480
  # crops in batches of 8 and infers at 480x360, batch 1.
  if want baselines; then
    stage baseline_train 120 --reserve "$RESERVE" \
      "$PY" benchmarks/baseline_unet_train.py "$CAMVID" \
      --iters "$BASELINE_ITERS" --warmup "$BASELINE_WARMUP" \
      --size 480 352 --batch 8
    stage baseline_predict 90 --reserve "$RESERVE" \
      "$PY" benchmarks/baseline_predict.py "$CAMVID" --n "$BASELINE_N" \
      --warmup 2
  fi
  # overhead: a U-Net so small that its network costs almost nothing, so
  # that the Runner's fixed host time per iteration shows, hook by hook.
  want overhead && bench configs/unet_camvid_quick.py bf16 overhead _tiny \
    model.backbone.base_channels=4 model.backbone.depth=3 \
    model.data_preprocessor.size_divisor=8
  # profile: where a Runner iteration's time goes beyond the bare loop's
  # (bf16): operators by self CPU and CUDA time, and a Chrome trace.
  # shellcheck disable=SC2086  # BENCH_ARGS is a list of words
  want profile && stage profile_unet_camvid_bf16 "$BENCH_LIMIT" \
    --reserve "$RESERVE" "$PY" tools/benchmark.py configs/unet_camvid.py \
    --what train $BENCH_ARGS --profile "$WORK/profile_unet_camvid_bf16" \
    --cfg-options "${DATA[@]}" optim_wrapper.precision=bf16
  # compile: the U-Net with its network compiled (compile=True: backbone
  # and head, not MMEngine's train step), bf16, against the eager figure;
  # its warm-up holds the compiling.
  want compile && bench configs/unet_camvid.py bf16 train +compile \
    compile=True
  # deeplab, zoo: DeepLabV3-R50 as the U-Net, then the zoo in bf16.
  want deeplab && bench_precisions configs/deeplabv3_r50_camvid.py
  local config
  if want zoo; then
    for config in $ZOO; do
      [ -f "$config" ] && bench "$config" bf16 'train infer'
    done
  fi

  # ttq, time to quality: a run still going at the budget gets SIGTERM,
  # saves its checkpoint and stops (status 75); its validations give the
  # mIoU.
  local budget iterations
  if want ttq; then
    budget=$((DEADLINE - $(date +%s) - 20))
    [ "$budget" -gt "$TTQ_SECONDS" ] && budget=$TTQ_SECONDS
    iterations=$(ttq_iterations "$budget")
    echo "time to quality: ${budget}s, train_cfg.max_iters=$iterations"
    stage ttq $((budget + 20)) timeout --preserve-status -s TERM "$budget" \
      "$PY" tools/train.py configs/unet_camvid_gpu.py --work-dir "$WORK/ttq" \
      --cfg-options "${DATA[@]}" "train_cfg.max_iters=$iterations"
  fi

  "$PY" tools/gpu_check_summary.py "$WORK" > "$OUT/summary.md"
  cat "$OUT/summary.md"
  # Checkpoints and panels stay behind: a file comes back under 16 MB.
  tar -czf "$OUT/results.tar.gz" -C "$WORK" --exclude='*.pth' \
    --exclude='*.png' .
  echo "gpu_check done in $(($(date +%s) - START))s: $OUT"
}

main 2>&1 | tee "$OUT/gpu_check.log"
