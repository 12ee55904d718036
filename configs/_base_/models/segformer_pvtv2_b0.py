# SegFormer-B0-style: timm's PVTv2-b0 (the hierarchical transformer SegFormer's
# MiT encoder is a sibling of: overlapping patch embeddings, spatial-reduction
# attention, Mix-FFN) and the all-MLP SegFormer head. Needs timm:
# pip install -e '.[timm]'. ImageNet weights from a local .safetensors:
# backbone.init_cfg=dict(type='Pretrained', checkpoint='checkpoints/pvt_v2_b0.safetensors').
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
    backbone=dict(type='TimmBackbone', model_name='pvt_v2_b0'),
    decode_head=dict(
        type='SegFormerHead',
        channels=256,
        num_classes=2,
        loss_decode=dict(type='CrossEntropyLoss', ignore_index=255)),
    test_cfg=dict(precision='auto'))
