# unet_camvid in a few CPU-minutes: the same parts, a 1/4-width net on
# half-size frames and a 600-iteration schedule. Predictions are scored
# against the native 480x360 masks.
_base_ = [
    '_base_/models/unet.py', '_base_/datasets/camvid_half.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_cpu_600.py'
]
model = dict(num_classes=11, base_channels=16)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=300))
