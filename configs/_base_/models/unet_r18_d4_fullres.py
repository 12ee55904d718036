# unet_r18_d4.py with a skip at full resolution: FullResolutionStem puts a
# 16-channel stride-1 feature before ResNet-18's, so the decoder's last
# up-step concatenates it (the paper U-Net's first level, fastai's
# last_cross). From scratch it brought Pole back on CamVid and small cars on
# Carvana (docs/experiments/2026-11-26-full-resolution-skip.md).
_base_ = './unet_r18_d4.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='FullResolutionStem',
        backbone=dict(
            type='TorchvisionBackbone', name='resnet18',
            out_indices=(0, 1, 2, 3))))
