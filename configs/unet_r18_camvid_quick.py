# unet_r18_camvid in about 15 CPU-minutes, from scratch: half-size frames,
# CE + soft Dice, bf16 autocast where the CPU has it; scored at 480x360. The
# encoder stops at stride 16 (smp's encoder_depth=4), so 3000 iterations fit
# where the full depth fits 2000 (docs/model_zoo.md), and a full-resolution
# skip (FullResolutionStem) lets it see poles, one or two pixels wide here.
_base_ = [
    '_base_/models/unet_r18_d4_fullres.py', '_base_/datasets/camvid_half.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_cpu_3000.py',
    '_base_/losses/ce_dice.py'
]
model = dict(
    decode_head=dict(num_classes=11, loss_decode={{_base_.ce_dice}}))
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=500))
