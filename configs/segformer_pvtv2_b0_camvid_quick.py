# The SegFormer-style PVTv2-b0 on CamVid in 15 minutes of training, from
# scratch (no ImageNet file here): half-size frames cropped to a multiple of
# its stride 32, CE + soft Dice. The time budget fits the schedule, written
# for 1400 iterations, to the machine (TimeBudgetTrainLoop).
_base_ = [
    '_base_/models/segformer_pvtv2_b0.py',
    '_base_/datasets/camvid_half_crop32.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_cpu_1400.py',
    '_base_/losses/ce_dice.py'
]
model = dict(
    decode_head=dict(num_classes=11, loss_decode={{_base_.ce_dice}}))
optim_wrapper = dict(optimizer=dict(weight_decay=0.01))
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=500))
train_cfg = dict(type='TimeBudgetTrainLoop', minutes=15)
