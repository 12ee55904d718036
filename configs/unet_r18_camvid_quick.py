# unet_r18_camvid in 15 minutes of training, from scratch: half-size
# frames, CE + soft Dice, bf16 autocast where the CPU has it; scored at
# 480x360. The encoder is ResNet-18-D (timm's resnet18d: a 3-convolution stem
# and average-pooled shortcuts), which scored higher on val from scratch than
# ResNet-18 in the same time; it stops at stride 16 (smp's encoder_depth=4),
# and a full-resolution skip (FullResolutionStem) lets it see poles, one or
# two pixels wide here. The time budget fits the schedule, written for 2400
# iterations, to the machine (TimeBudgetTrainLoop).
_base_ = [
    '_base_/models/unet_r18d_d4_fullres.py', '_base_/datasets/camvid_half.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_cpu_2400.py',
    '_base_/losses/ce_dice.py'
]
model = dict(
    decode_head=dict(num_classes=11, loss_decode={{_base_.ce_dice}}))
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=800))
train_cfg = dict(type='TimeBudgetTrainLoop', minutes=15)
