# DeepLabV3+ (Chen et al. 2018) on ResNet-50 at output stride 8:
# depthwise-separable ASPP, a stride-4 low-level skip, FCN aux head on layer3.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size_divisor=8,
    pad_val=0,
    seg_pad_val=255,
    channels_last=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='TorchvisionBackbone', name='resnet50',
                  output_stride=8, out_indices=(1, 3, 4)),
    decode_head=dict(
        type='DepthwiseSeparableASPPHead',
        dilations=(1, 12, 24, 36),
        low_level_stride=4,
        num_classes=2,
        loss_decode=dict(type='CrossEntropyLoss', ignore_index=255)),
    auxiliary_head=dict(
        type='FCNHead',
        in_index=1,
        channels=256,
        num_convs=1,
        concat_input=False,
        loss_decode=dict(type='CrossEntropyLoss', ignore_index=255,
                         loss_weight=0.4)),
    test_cfg=dict(precision='auto'))
