from .config import (ConfigKeyError, add_runner_args, load_config,
                     parse_runner_args)
from .inference import (IMAGE_EXTENSIONS, OUTPUT_FORMATS, find_images,
                        inference, init_model, iter_inference, model_palette,
                        output_paths, render_mask, save_prediction,
                        set_inference_options)

__all__ = [
    'ConfigKeyError', 'add_runner_args', 'load_config', 'parse_runner_args',
    'IMAGE_EXTENSIONS', 'OUTPUT_FORMATS', 'find_images', 'inference',
    'init_model', 'iter_inference', 'model_palette', 'output_paths',
    'render_mask', 'save_prediction', 'set_inference_options'
]
