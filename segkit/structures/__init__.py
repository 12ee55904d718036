from .seg_data_sample import SKIPPED_SAMPLES_KEY, SegDataSample

__all__ = ['SKIPPED_SAMPLES_KEY', 'SegDataSample']
