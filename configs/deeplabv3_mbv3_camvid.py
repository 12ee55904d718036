# DeepLabV3-MobileNetV3 on CamVid-11 with the schedule a GPU user would run.
_base_ = [
    '_base_/models/deeplabv3_mbv3.py', '_base_/datasets/camvid.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_10k.py'
]
model = dict(decode_head=dict(num_classes=11))
