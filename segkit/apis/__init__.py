from .config import ConfigKeyError, load_config
from .inference import (IMAGE_EXTENSIONS, OUTPUT_FORMATS, find_images,
                        inference, init_model, iter_inference, model_palette,
                        output_paths, render_mask, save_prediction,
                        set_inference_options)

__all__ = [
    'ConfigKeyError', 'load_config', 'IMAGE_EXTENSIONS', 'OUTPUT_FORMATS',
    'find_images', 'inference', 'init_model', 'iter_inference',
    'model_palette', 'output_paths', 'render_mask', 'save_prediction',
    'set_inference_options'
]
