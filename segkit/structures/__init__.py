from .seg_data_sample import (PREFETCHED_KEY, SKIPPED_SAMPLES_KEY,
                              SegDataSample)

__all__ = ['PREFETCHED_KEY', 'SKIPPED_SAMPLES_KEY', 'SegDataSample']
