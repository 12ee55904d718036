# DeepLabV3 on torchvision's MobileNetV3-Large (output stride 16), auxiliary
# FCN head at 0.4: torchvision's deeplabv3_mobilenet_v3_large, whose state
# dicts load as they are. Nothing downloads: start from a local ImageNet file
# with backbone.init_cfg=dict(type='Pretrained',
# checkpoint='checkpoints/mobilenet_v3_large.pth').
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size_divisor=16,  # output stride: keeps the feature grid aligned
    pad_val=0,
    seg_pad_val=255,
    channels_last=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='TorchvisionBackbone', name='mobilenet_v3_large',
                  output_stride=16, out_indices=(2, 4)),
    decode_head=dict(
        type='ASPPHead',
        num_classes=2,
        loss_decode=dict(type='CrossEntropyLoss', ignore_index=255)),
    # torchvision's aux head: one 3x3 conv to in_channels // 4, dropout 0.1.
    auxiliary_head=dict(
        type='FCNHead',
        in_index=0,
        channels=10,
        num_convs=1,
        concat_input=False,
        loss_decode=dict(type='CrossEntropyLoss', ignore_index=255,
                         loss_weight=0.4)),
    test_cfg=dict(precision='auto'))  # bf16/fp16 where fast; 'fp32': exact
