# unet_carvana in 15 minutes of training: the same parts, a 1/4-width net
# on half-size frames; the time budget fits the schedule, written for 3000
# iterations, to the machine (TimeBudgetTrainLoop).
_base_ = [
    '_base_/models/unet_binary.py', '_base_/datasets/carvana_half.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_cpu_3000.py'
]
model = dict(backbone=dict(base_channels=16))
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=500, save_best='Dice'))
train_cfg = dict(type='TimeBudgetTrainLoop', minutes=15)
