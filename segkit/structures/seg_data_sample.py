"""The one object that travels from dataset to model to metric to hook."""
from mmengine.structures import BaseDataElement, PixelData

#: Metainfo key of a training sample that replaced bad ones: a tuple of
#: ``(img_path, reason)`` of the samples its dataloader worker skipped.
#: Datasets write it (``on_bad_sample='skip'``); ``BadSampleHook`` reads it.
SKIPPED_SAMPLES_KEY = 'skipped_samples'
#: Key of a training batch under which DevicePrefetchHook put the batch as
#: the data preprocessor makes it, ready on the device; the preprocessor
#: returns it as it is.
PREFETCHED_KEY = 'prefetched'


def _pixel_data_field(name: str, doc: str) -> property:
    """A typed data field: assigning anything but ``PixelData`` is an error."""
    private = '_' + name

    def getter(self) -> PixelData:
        return getattr(self, private)

    def setter(self, value: PixelData) -> None:
        self.set_field(value, private, dtype=PixelData)

    def deleter(self) -> None:
        delattr(self, private)

    return property(getter, setter, deleter, doc)


class SegDataSample(BaseDataElement):
    """Ground truth, prediction and meta information of one image.

    ``metainfo`` holds ``img_path``, ``seg_map_path``, ``ori_shape``,
    ``img_shape``, ``pad_shape``, ``scale_factor``, ``flip`` and
    ``flip_direction``: what the model needs to undo the test pipeline.
    """

    gt_sem_seg = _pixel_data_field(
        'gt_sem_seg', 'Class index per pixel, (1, H, W) int64; 255 = void.')
    pred_sem_seg = _pixel_data_field(
        'pred_sem_seg', 'Predicted class index per pixel at the original '
        'image size, (1, H, W) int64.')
    seg_logits = _pixel_data_field(
        'seg_logits', 'Per-class scores at the original size, (C, H, W), '
        'before argmax or threshold.')
