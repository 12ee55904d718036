"""docs/architecture.md stays true: the modules it names exist, imports run
down the layers it states, and every "How to add" example works."""
import ast
import re
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from segkit.registry import DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS
from segkit.structures import SegDataSample

REPO = Path(__file__).resolve().parents[1]
DOC = (REPO / 'docs' / 'architecture.md').read_text(encoding='utf-8')
# The layer order docs/architecture.md states; tools/ are above them all.
LAYERS = {
    'structures': 0, 'registry': 0, 'utils': 0,
    'datasets': 1, 'visualization': 1,
    'models': 2, 'evaluation': 2, 'engine': 2,
    'apis': 3,
    'benchmark': 4,
}


def test_every_module_the_page_names_exists():
    paths = set(re.findall(r'`((?:segkit|tools|tests)/[\w/]+\.(?:py|sh))`',
                           DOC))
    dotted = set(re.findall(r'`(segkit(?:\.\w+)+)`', DOC))
    assert len(paths) > 20 and dotted
    missing = sorted(p for p in paths if not (REPO / p).is_file())
    for name in dotted:
        base = REPO / Path(*name.split('.'))
        if not (base.with_suffix('.py').is_file() or base.is_dir()):
            # a name inside a module: segkit.utils.listing
            module = REPO / Path(*name.split('.')[:-1])
            if not (module.with_suffix('.py').is_file() or
                    (module / '__init__.py').is_file()):
                missing.append(name)
    assert not missing, f'docs/architecture.md names {missing}'


def test_the_page_states_every_layer_the_test_enforces():
    for package in LAYERS:
        assert package in DOC


def _segkit_imports(path: Path):
    """``(line, imported segkit module)`` of every import in ``path``."""
    parts = path.relative_to(REPO).with_suffix('').parts
    tree = ast.parse(path.read_text(encoding='utf-8'))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = parts[:len(parts) - node.level]
                names = ['.'.join(package + ((node.module, )
                                             if node.module else ()))]
            else:
                names = [node.module or '']
        else:
            continue
        for name in names:
            if name.startswith('segkit.') or name == 'segkit':
                yield node.lineno, name


def test_imports_run_down_the_layers_only():
    upward = []
    modules = sorted((REPO / 'segkit').rglob('*.py'))
    assert len(modules) > 40
    for path in modules:
        parts = path.relative_to(REPO / 'segkit').parts
        if len(parts) == 1 and parts[0] == '__init__.py':
            continue
        own = LAYERS[parts[0].removesuffix('.py')]
        for line, name in _segkit_imports(path):
            target = name.split('.')
            # bare `segkit` holds only __version__: the bottom layer
            if len(target) > 1 and LAYERS[target[1]] > own:
                upward.append(f'{path.relative_to(REPO)}:{line} imports '
                              f'{name}')
    assert not upward, 'imports against the layer order:\n' + '\n'.join(
        upward)


def test_segkit_never_imports_the_benchmark_peers():
    for path in (REPO / 'segkit').rglob('*.py'):
        tree = ast.parse(path.read_text(encoding='utf-8'))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = ([a.name for a in node.names] if isinstance(
                    node, ast.Import) else [node.module or ''])
                assert not any(n.split('.')[0] in ('benchmarks',
                                                   'segmentation_models_'
                                                   'pytorch')
                               for n in names), path


def _examples() -> dict:
    """``{heading: code}`` of the python blocks under "How to add"."""
    section = DOC.split('## How to add a component', 1)[1]
    blocks = re.findall(r'### (.+?)\n+```python\n(.*?)```', section, re.S)
    return {title.strip(): code for title, code in blocks}


@pytest.fixture(scope='module')
def examples() -> dict:
    """Each example run once; its namespace by heading."""
    found = _examples()
    assert set(found) == {'A dataset', 'A transform', 'A decode head',
                          'A loss', 'A metric', 'A hook'}
    namespaces = {}
    for title, code in found.items():
        assert len(code.strip().splitlines()) <= 20, title
        namespace: dict = {}
        exec(compile(code, f'docs/architecture.md: {title}', 'exec'),
             namespace)
        namespaces[title] = namespace
    return namespaces


def test_dataset_example_pairs_and_loads(examples, tmp_path):
    for stem in ('a', 'b'):
        cv2.imwrite(str(tmp_path / f'{stem}.jpg'),
                    np.full((8, 6, 3), 90, np.uint8))
        cv2.imwrite(str(tmp_path / f'{stem}_crack.png'),
                    np.eye(8, 6, dtype=np.uint8))
    dataset = DATASETS.build(dict(
        type='CrackDataset', data_root=str(tmp_path),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadSegMap'),
                  dict(type='PackSegInputs')]))
    assert len(dataset) == 2
    assert dataset.metainfo['classes'] == ('background', 'crack')
    sample = dataset[1]['data_samples']
    assert sample.gt_sem_seg.data[0].tolist() == np.eye(8, 6).tolist()


def test_transform_example_greys_the_image_only(examples):
    step = TRANSFORMS.build(dict(type='RandomGrayscale', prob=1.0))
    img = np.random.default_rng(0).integers(0, 255, (4, 5, 3), np.uint8)
    out = step(dict(img=img.copy(), gt_seg_map=np.ones((4, 5))))
    assert (out['img'][..., 0] == out['img'][..., 2]).all()
    assert out['gt_seg_map'].sum() == 20


def test_decode_head_example_trains_and_predicts_on_any_backbone(examples):
    for backbone in (dict(type='TorchvisionBackbone', name='resnet18'),
                     dict(type='UNetEncoder', base_channels=4, depth=2)):
        model = MODELS.build(dict(
            type='EncoderDecoder', backbone=backbone,
            decode_head=dict(type='LiteHead', channels=8, num_classes=3)))
        assert (model.decode_head.in_channels ==
                model.backbone.out_channels[-1])
        inputs = torch.randn(2, 3, 40, 36)
        losses = model(inputs, [_sample(torch.zeros(1, 40, 36).long())] * 2,
                       mode='loss')
        assert list(losses) == ['decode.loss_ce']
        model.eval()
        model.test_cfg = type(model.test_cfg)(mode='slide', crop_size=32,
                                              stride=16)
        pred = model.predict(inputs[:1])[0].pred_sem_seg.data
        assert pred.shape == (1, 40, 36)


def _sample(mask):
    sample = SegDataSample()
    sample.gt_sem_seg = _pixels(mask)
    return sample


def test_loss_example_is_cross_entropy_at_gamma_zero(examples):
    logits = torch.randn(2, 4, 5, 5)
    target = torch.randint(0, 4, (2, 5, 5))
    target[0, 0] = 255
    focal = MODELS.build(dict(type='FocalLoss', gamma=0.0))
    ce = MODELS.build(dict(type='CrossEntropyLoss'))
    torch.testing.assert_close(focal(logits, target), ce(logits, target))
    assert MODELS.build(dict(type='FocalLoss'))(logits, target) < ce(
        logits, target)


def test_metric_example_counts_labelled_pixels(examples):
    metric = METRICS.build(dict(type='PixelAccuracy'))
    sample = SegDataSample()
    sample.set_data(dict(
        pred_sem_seg=_pixels([[1, 1], [0, 0]]),
        gt_sem_seg=_pixels([[1, 0], [0, 255]])))
    metric.process({}, [sample.to_dict()])
    assert metric.compute_metrics(metric.results) == dict(pixel_acc=2 / 3)


def _pixels(rows):
    data = rows if torch.is_tensor(rows) else torch.tensor([rows])
    return PixelData(data=data)


def test_hook_example_stops_at_the_target(examples):
    hook = HOOKS.build(dict(type='StopAtScoreHook', target=0.5))
    runner = SimpleNamespace(train_loop=SimpleNamespace(stop_training=False))
    hook.after_val_epoch(runner, dict(mIoU=0.4))
    assert not runner.train_loop.stop_training
    hook.after_val_epoch(runner, dict(mIoU=0.6))
    assert runner.train_loop.stop_training
