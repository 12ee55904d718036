# DeepLabV3 on torchvision's ResNet-50 (output stride 8), aux head at 0.4.
_base_ = './deeplabv3_mbv3.py'
data_preprocessor = dict(size_divisor=8)
model = dict(backbone='resnet50', data_preprocessor=data_preprocessor)
