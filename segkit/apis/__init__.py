from .cli import (add_debug_arg, add_override_arg, add_strict_arg,
                  add_tta_args, configure_checkpoint_fit, require_file,
                  run_tool, tta_test_cfg)
from .config import (ConfigKeyError, add_runner_args, load_config,
                     parse_runner_args)
from .inference import (dataset_image_paths, inference, init_model,
                        iter_inference)
from .prediction_io import (IMAGE_EXTENSIONS, OUTPUT_FORMATS, find_images,
                            model_palette, output_paths, render_mask,
                            save_prediction)

__all__ = [
    'add_debug_arg', 'add_override_arg', 'add_strict_arg', 'add_tta_args',
    'configure_checkpoint_fit', 'require_file', 'run_tool', 'tta_test_cfg',
    'ConfigKeyError', 'add_runner_args', 'load_config', 'parse_runner_args',
    'IMAGE_EXTENSIONS', 'OUTPUT_FORMATS', 'dataset_image_paths',
    'find_images', 'inference', 'init_model', 'iter_inference',
    'model_palette', 'output_paths', 'render_mask', 'save_prediction'
]
