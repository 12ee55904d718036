# DeepLabV3 on torchvision's ResNet-50 (output stride 8), aux head at 0.4:
# torchvision's deeplabv3_resnet50.
_base_ = './deeplabv3_mbv3.py'
data_preprocessor = dict(size_divisor=8)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(name='resnet50', output_stride=8, out_indices=(3, 4)),
    auxiliary_head=dict(channels=256))
