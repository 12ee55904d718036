# SegFormer-B0-style (timm PVTv2-b0 + all-MLP head) on CamVid-11, GPU
# schedule. Transformers want ImageNet weights: set backbone.init_cfg to a
# local pvt_v2_b0 .safetensors (README, "Pretrained weights").
_base_ = [
    '_base_/models/segformer_pvtv2_b0.py', '_base_/datasets/camvid.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_10k.py'
]
model = dict(decode_head=dict(num_classes=11))
