# The U-Net paper's own experiment: EM membranes, two-class softmax.
_base_ = [
    '_base_/models/unet.py', '_base_/datasets/isbi.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_10k.py'
]
model = dict(decode_head=dict(num_classes=2))
