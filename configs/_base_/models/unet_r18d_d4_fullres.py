# unet_r18_d4_fullres.py over ResNet-18-D (timm's resnet18d, "Bag of Tricks",
# He et al. 2019): the 7x7 stem becomes three 3x3 convolutions (32, 32, 64
# channels) and each downsampling shortcut average-pools before its 1x1
# convolution instead of skipping three pixels in four. The blocks, widths
# and strides are ResNet-18's. From scratch it was the largest gain of a GPU
# sweep of the quick recipes, on both sets and every seed tried
# (docs/experiments/2026-11-27-resnet18d.md). Needs timm: pip install -e '.[timm]'.
_base_ = './unet_r18_d4_fullres.py'
model = dict(
    backbone=dict(
        backbone=dict(
            _delete_=True,
            type='TimmBackbone',
            model_name='resnet18d',
            out_indices=(0, 1, 2, 3))))
