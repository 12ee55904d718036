# smp's Unet('resnet18'): torchvision's ResNet-18 as the encoder, a decoder of
# (256, 128, 64, 32, 16) channels with nearest up-sampling and a skip at every
# stride; one sigmoid output trained with BCE + soft Dice. ImageNet weights
# from a local file: backbone.init_cfg=dict(type='Pretrained',
# checkpoint='checkpoints/resnet18.pth') (README, "Pretrained weights").
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size_divisor=32,  # the ResNet's largest stride
    pad_val=0,
    seg_pad_val=255,
    channels_last=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='TorchvisionBackbone', name='resnet18'),
    decode_head=dict(
        type='UNetHead',
        upsample='nearest',
        decoder_channels=(256, 128, 64, 32, 16),
        num_classes=1,
        loss_decode=[
            dict(type='BCEWithLogitsLoss', loss_weight=1.0),
            dict(type='DiceLoss', loss_weight=1.0),
        ]),
    test_cfg=dict(precision='auto'))
