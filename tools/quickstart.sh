#!/usr/bin/env bash
# Set up .venv, train the quick U-Net on real CamVid (about 11½ minutes on 2
# CPU cores with native bf16), then score the best checkpoint on the
# validation frames.
# Data: $CAMVID_ROOT if set, else ../shared/data/camvid, else the small
# sample bundled in data/camvid_sample.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
if [ -z "${CAMVID_ROOT:-}" ]; then
  if [ -d ../shared/data/camvid ]; then CAMVID_ROOT=../shared/data/camvid
  else CAMVID_ROOT=data/camvid_sample; fi
fi
export CAMVID_ROOT
config=configs/unet_camvid_quick.py
work_dir=work_dirs/unet_camvid_quick
echo "Training $config on $CAMVID_ROOT"
.venv/bin/python tools/train.py "$config" --work-dir "$work_dir" "$@"
# The best checkpoint of the run just made (recorded in its last
# checkpoint), never another run's best_*.pth in the same work dir.
best=$(.venv/bin/python -c 'import sys
from segkit.engine.resume import best_checkpoint
print(best_checkpoint(sys.argv[1]))' "$work_dir")
.venv/bin/python tools/test.py "$config" "$best" --work-dir "$work_dir" \
  --out "$work_dir/test_metrics.json"
echo "Checkpoints: $work_dir/   best: $best"
echo "Scores: $work_dir/test_metrics.json"
