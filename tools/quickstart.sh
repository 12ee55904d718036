#!/usr/bin/env bash
# Set up .venv, fine-tune the quick U-Net over ImageNet EfficientNet-Lite0
# on real CamVid (15 minutes of training, on any machine), then score the
# best checkpoint on the validation frames.
# Data: $CAMVID_ROOT if set, else ../shared/data/camvid, else (the tools
# fall back and say so) the small sample bundled in data/camvid_sample.
# Arguments go to tools/train.py; the config overrides (--cfg-options ...)
# and --debug go to tools/test.py too, so both steps see the same model
# and data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
test_args=()
in_options=0
for arg in "$@"; do
  case "$arg" in
    --cfg-options) in_options=1; test_args+=("$arg") ;;
    --cfg-options=*|--debug) in_options=0; test_args+=("$arg") ;;
    -*) in_options=0 ;;
    *) if [ "$in_options" = 1 ]; then test_args+=("$arg"); fi ;;
  esac
done
config=configs/unet_effl0_camvid_quick.py
work_dir=work_dirs/unet_effl0_camvid_quick
echo "Training $config"
.venv/bin/python tools/train.py "$config" --work-dir "$work_dir" "$@"
# The work dir stands for the best checkpoint of the run just made
# (recorded in its last checkpoint), never another run's best_*.pth there.
.venv/bin/python tools/test.py "$config" "$work_dir" --work-dir "$work_dir" \
  --out "$work_dir/test_metrics.json" "${test_args[@]+"${test_args[@]}"}"
echo "Checkpoints: $work_dir/"
echo "Scores: $work_dir/test_metrics.json"
