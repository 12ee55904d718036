# unet_carvana in a few CPU-minutes: the same parts, a 1/4-width net on
# half-size frames and a 600-iteration schedule.
_base_ = [
    '_base_/models/unet_binary.py', '_base_/datasets/carvana_half.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_cpu_600.py'
]
model = dict(backbone=dict(base_channels=16))
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=300, save_best='Dice'))
