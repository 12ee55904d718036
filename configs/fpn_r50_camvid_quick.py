# Semantic FPN on ResNet-50 on CamVid in about 15 CPU-minutes, from scratch:
# half-size frames, CE + soft Dice (rare classes), scored at 480x360.
_base_ = [
    '_base_/models/fpn_r50.py', '_base_/datasets/camvid_half.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_cpu_1000.py'
]
model = dict(
    decode_head=dict(
        num_classes=11,
        loss_decode=[
            dict(type='CrossEntropyLoss', ignore_index=255, loss_weight=1.0),
            dict(type='DiceLoss', ignore_index=255, loss_weight=1.0),
        ]))
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=500))
