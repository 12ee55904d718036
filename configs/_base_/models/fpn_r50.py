# Semantic FPN (Kirillov et al. 2019) on ResNet-50: an FPN neck over strides
# 4-32 and the panoptic FPN's semantic branch, predicting at stride 4.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size_divisor=32,
    pad_val=0,
    seg_pad_val=255,
    channels_last=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='TorchvisionBackbone', name='resnet50',
                  out_indices=(1, 2, 3, 4)),
    neck=dict(type='FPN', out_channels=256),
    decode_head=dict(
        type='FPNHead',
        channels=128,
        num_classes=2,
        loss_decode=dict(type='CrossEntropyLoss', ignore_index=255)),
    test_cfg=dict(precision='auto'))
