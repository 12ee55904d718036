# Semantic FPN on ResNet-50 on CamVid-11, GPU schedule.
_base_ = [
    '_base_/models/fpn_r50.py', '_base_/datasets/camvid.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_10k.py'
]
model = dict(decode_head=dict(num_classes=11))
