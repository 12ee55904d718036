# DeepLabV3 on torchvision's MobileNetV3-Large, auxiliary FCN head at 0.4.
# Nothing downloads: start from a local torchvision file with e.g.
# torchvision_checkpoint=dict(path='checkpoints/mobilenet_v3_large.pth',
#                             part='backbone').
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size_divisor=16,  # output stride: keeps the feature grid aligned
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='DeepLabV3',
    data_preprocessor=data_preprocessor,
    backbone='mobilenet_v3_large',
    num_classes=2,
    aux_head=True,
    aux_loss_weight=0.4,
    loss_decode=dict(type='CrossEntropyLoss', ignore_index=255,
                     loss_weight=1.0),
    test_cfg=dict(precision='auto'))  # bf16/fp16 where fast; 'fp32': exact
