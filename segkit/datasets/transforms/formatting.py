"""The last transform of every pipeline: results dict → model input."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData

from segkit.registry import TRANSFORMS
from segkit.structures import SegDataSample


@TRANSFORMS.register_module()
class PackSegInputs(BaseTransform):
    """Pack the image as a uint8 ``(C, H, W)`` tensor and the rest as a
    :class:`SegDataSample`.

    The image stays uint8 so that worker processes send a quarter of the bytes
    of a float tensor; the data preprocessor normalises it on the device.
    """

    def __init__(self,
                 meta_keys=('img_path', 'seg_map_path', 'ori_shape',
                            'img_shape', 'scale_factor', 'flip',
                            'flip_direction', 'reduce_zero_label')):
        self.meta_keys = meta_keys

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = SegDataSample()
        if 'gt_seg_map' in results:
            seg = results['gt_seg_map'].astype(np.int64, copy=False)
            sample.gt_sem_seg = PixelData(data=torch.from_numpy(seg)[None])
        sample.set_metainfo(
            {key: results[key] for key in self.meta_keys if key in results})
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
