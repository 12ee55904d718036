# unet_camvid in 15 minutes of training: the same parts, a 1/4-width net on
# half-size frames, CE + Dice so that rare classes (pole, sign, pedestrian,
# bicyclist) pull as hard as road and sky, and bf16 autocast where the CPU has
# it (precision='auto'). Predictions are scored at the native 480x360. The
# time budget fits the schedule, written for 2400 iterations, to what the
# machine does in 15 minutes (TimeBudgetTrainLoop).
_base_ = [
    '_base_/models/unet.py', '_base_/datasets/camvid_half.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_cpu_2400.py',
    '_base_/losses/ce_dice.py'
]
model = dict(
    backbone=dict(base_channels=16),
    decode_head=dict(num_classes=11, loss_decode={{_base_.ce_dice}}))
default_hooks = dict(logger=dict(interval=100), checkpoint=dict(interval=800))
train_cfg = dict(type='TimeBudgetTrainLoop', minutes=15)
