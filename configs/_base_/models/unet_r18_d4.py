# smp's Unet('resnet18', encoder_depth=4, decoder_channels=(128, 64, 32, 16)):
# unet_r18.py without ResNet-18's stride-32 stage (8.4 M of its 11.2 M
# parameters). From scratch on a few hundred frames it costs 0.57x per crop
# and its CPU quick runs score higher in the same time
# (docs/experiments/2026-11-26-r18-quick-recipes-gpu-sweep.md).
_base_ = './unet_r18.py'
model = dict(
    data_preprocessor=dict(size_divisor=16),  # the deepest stride kept
    backbone=dict(out_indices=(0, 1, 2, 3)),
    decode_head=dict(decoder_channels=(128, 64, 32, 16)))
