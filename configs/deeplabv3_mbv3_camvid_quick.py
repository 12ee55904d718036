# DeepLabV3-MobileNetV3 on CamVid in a few CPU-minutes: half-size frames,
# a 600-iteration schedule, scored against the native-size masks.
_base_ = [
    '_base_/models/deeplabv3_mbv3.py', '_base_/datasets/camvid_half.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_cpu_600.py'
]
model = dict(decode_head=dict(num_classes=11))
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=300))
