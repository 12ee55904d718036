"""Which checkpoint ``tools/train.py --resume`` continues from, and which
is the best of the run a work dir last finished.

MMEngine's ``find_latest_checkpoint`` returns whatever ``last_checkpoint``
names, complete or not. ``AtomicCheckpointHook`` never leaves that pointer
naming a torn file, but a work dir can still hold one: written by a
non-atomic writer, cut short by a full disk, half copied from another
machine, or a pointer left naming a file that was moved or deleted.

A work dir may also be shared by runs of different models (the same
``--work-dir`` for a U-Net and a DeepLabV3). ``SegRunner`` writes the model's
config into every checkpoint's meta (:func:`model_identity`), so a resume
takes only a checkpoint of the model being trained, and refuses another
one by naming the keys that differ.
"""
import hashlib
import json
import logging
import os
import os.path as osp
import re
import zipfile
from typing import Any, Dict, List, Mapping, Optional

from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader

from segkit.utils import CheckpointMismatchError, MissingPathError
from .model_loading import read_checkpoint

LAST_CHECKPOINT = 'last_checkpoint'
#: The checkpoint meta key of :func:`model_identity`.
MODEL_IDENTITY_KEY = 'segkit_model'
#: The checkpoint meta key of the run's shape: :func:`run_shape`.
RUN_SHAPE_KEY = 'segkit_run_shape'
_ITER_CHECKPOINT = re.compile(r'iter_(\d+)\.pth')
# Model config keys that do not change what the weights mean: how it
# predicts, how it was initialised before the first step, how inputs are
# normalised (the Runner may merge that in from the top level).
_NOT_IDENTITY = frozenset(
    {'test_cfg', 'init_cfg', 'pretrained', 'data_preprocessor'})


def _plain(value: Any) -> Any:
    """``value`` as JSON types, minus the keys in ``_NOT_IDENTITY``."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()
                if k not in _NOT_IDENTITY}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return getattr(value, '__name__', repr(value))  # a class given as type


def model_identity(model_cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """What a checkpoint records of the model that made it.

    Args:
        model_cfg: The ``model`` entry of a config.

    Returns:
        ``{'hash': 12 hex digits, 'config': the model config as JSON
        types}``, without the keys that do not change what the weights mean
        (``test_cfg``, ``init_cfg``, ``pretrained``, ``data_preprocessor``).
    """
    config = _plain(model_cfg)
    text = json.dumps(config, sort_keys=True)
    return dict(hash=hashlib.sha256(text.encode()).hexdigest()[:12],
                config=config)


def model_differences(recorded: Any, current: Any,
                      prefix: str = 'model') -> List[str]:
    """``'key: recorded -> current'`` for each leaf where two model configs
    (as :func:`model_identity` records them) differ."""
    if isinstance(recorded, dict) and isinstance(current, dict):
        return [line for key in sorted(set(recorded) | set(current))
                for line in model_differences(
                    recorded.get(key, '<absent>'),
                    current.get(key, '<absent>'), f'{prefix}.{key}')]
    if recorded == current:
        return []
    return [f'{prefix}: {recorded!r} -> {current!r}']


def other_model(meta: Mapping[str, Any],
                model_cfg: Mapping[str, Any]) -> Optional[str]:
    """Why a checkpoint with ``meta`` is not of ``model_cfg``'s model (its
    differing keys, checkpoint -> config), or ``None`` if it is, or if it
    recorded no identity (saved by a plain MMEngine Runner)."""
    recorded = meta.get(MODEL_IDENTITY_KEY)
    if not isinstance(recorded, Mapping) or 'hash' not in recorded:
        return None
    current = model_identity(model_cfg)
    if recorded['hash'] == current['hash']:
        return None
    changes = model_differences(recorded.get('config'), current['config'])
    shown = '; '.join(changes[:3]) + (
        f' (and {len(changes) - 3} more)' if len(changes) > 3 else '')
    return f'another model ({shown or "different model config"})'


def run_shape(cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """The config values a resumed run may change, but should say it did:
    the batch size and the schedule's length, as the config gives them
    (``TimeBudgetTrainLoop`` fits its length to the machine each run)."""
    return {
        'train_dataloader.batch_size':
        (cfg.get('train_dataloader') or {}).get('batch_size'),
        'train_cfg.max_iters': (cfg.get('train_cfg') or {}).get('max_iters'),
    }


def resume_changes(meta: Mapping[str, Any],
                   cfg: Mapping[str, Any]) -> Optional[str]:
    """What a resume changes of the recorded :func:`run_shape`, as one
    line; ``None`` if nothing (or the checkpoint recorded no shape)."""
    recorded = meta.get(RUN_SHAPE_KEY)
    if not isinstance(recorded, Mapping):
        return None
    changes = [f'{key} {recorded.get(key)} -> {value}'
               for key, value in run_shape(cfg).items()
               if recorded.get(key) != value]
    return ('resuming with ' + ', '.join(changes) + ': the rest of the run '
            'follows the new values') if changes else None


def check_resume_model(checkpoint: str,
                       model_cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """Refuse to resume ``model_cfg``'s training from a checkpoint of
    another model.

    Returns:
        The checkpoint's meta.

    Raises:
        CheckpointMismatchError: naming the checkpoint and the model config
            keys that differ.
    """
    meta = read_checkpoint(checkpoint)[1]
    reason = other_model(meta, model_cfg)
    if reason is not None:
        raise CheckpointMismatchError(
            f'cannot resume from {checkpoint}: it is a checkpoint of '
            f'{reason}. Resume from a checkpoint of this model, or give '
            'this run its own --work-dir (add --load-from to start from '
            'those weights).')
    return meta


def checkpoint_damage(path: str) -> Optional[str]:
    """Why ``path`` is not a complete checkpoint, or ``None`` if it is.

    ``torch.save`` writes a zip archive whose directory is at the end, with
    a CRC per member: a truncated file has no directory and a corrupted one
    fails a CRC, so this reads the whole file once but unpickles nothing.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            corrupt_member = archive.testzip()
    except (OSError, zipfile.BadZipFile) as err:
        return f'{type(err).__name__}: {err}'
    if corrupt_member is not None:
        return f'member {corrupt_member} is corrupt (CRC or header mismatch)'
    return None


def find_resume_checkpoint(
        work_dir: str,
        model_cfg: Optional[Mapping[str, Any]] = None) -> Optional[str]:
    """The checkpoint to resume ``work_dir``'s run from.

    The file ``last_checkpoint`` names, if complete and of ``model_cfg``'s
    model: it, not the highest number, says which run is current (a work
    dir may keep an older run's later iterations). Otherwise the newest such
    ``iter_<N>.pth`` in ``work_dir``, with a warning naming each file passed
    over and why. ``None`` when there is nothing to resume (a fresh run).

    Args:
        work_dir: The run's work dir.
        model_cfg: The ``model`` entry of the config to resume; ``None``
            takes a checkpoint of any model.

    Raises:
        MissingPathError: checkpoints exist but none is complete and of
            this model; starting from scratch instead would silently
            discard the run, or mix two models' checkpoints in one folder.
    """
    pointer = osp.join(work_dir, LAST_CHECKPOINT)
    passed_over = []
    named = None
    if osp.isfile(pointer):
        with open(pointer) as f:
            text = f.read().strip()
        if not text:  # MMEngine's own CheckpointHook, killed mid-write
            passed_over.append(f'{pointer}: empty')
        else:
            named = osp.abspath(text)
            damage = _unusable(named, model_cfg)
            if damage is None:
                return named
            passed_over.append(f'{named} (named by {pointer}): {damage}')
    numbered = sorted(
        ((int(match.group(1)), name) for name in os.listdir(work_dir)
         if (match := _ITER_CHECKPOINT.fullmatch(name))),
        reverse=True) if osp.isdir(work_dir) else []
    for _, name in numbered:
        path = osp.abspath(osp.join(work_dir, name))
        if path == named:
            continue
        damage = _unusable(path, model_cfg)
        if damage is None:
            if passed_over:
                print_log(
                    f'Resuming from {path}, the newest complete checkpoint; '
                    f'passed over: {"; ".join(passed_over)}',
                    logger='current',
                    level=logging.WARNING)
            return path
        passed_over.append(f'{path}: {damage}')
    if passed_over:
        raise MissingPathError(
            f'Nothing to resume in {work_dir}: no checkpoint there is '
            f'complete and of this model ({"; ".join(passed_over)}). Pass '
            '--resume CKPT to choose one, or --work-dir DIR to start '
            'afresh elsewhere.')
    return None


def _unusable(path: str,
              model_cfg: Optional[Mapping[str, Any]]) -> Optional[str]:
    """Why ``path`` cannot be resumed: incomplete, or of another model."""
    damage = checkpoint_damage(path)
    if damage is not None or model_cfg is None:
        return damage
    return other_model(read_checkpoint(path)[1], model_cfg)


def best_checkpoint(work_dir: str) -> str:
    """The best checkpoint of the run that wrote ``work_dir``'s
    ``last_checkpoint``: MMEngine's ``CheckpointHook(save_best=...)``
    records its path in the message hub that every checkpoint carries, so
    other runs' ``best_*.pth`` in the same folder are never taken.

    Raises:
        MissingPathError: no ``last_checkpoint``, or that run saved no best
            checkpoint (no validation, or no ``save_best``).
    """
    pointer = osp.join(work_dir, LAST_CHECKPOINT)
    if not osp.isfile(pointer):
        raise MissingPathError(f'no {pointer}: {work_dir} holds no '
                               'finished training run')
    with open(pointer) as f:
        last = f.read().strip()
    checkpoint = CheckpointLoader.load_checkpoint(last, map_location='cpu',
                                                  logger='silent')
    info = checkpoint.get('message_hub', {}).get('runtime_info', {})
    best = [info[key] for key in sorted(info)
            if key.startswith('best_ckpt') and osp.isfile(str(info[key]))]
    if not best:
        raise MissingPathError(
            f'the run that saved {last} recorded no best checkpoint (it '
            "validated never, or its CheckpointHook has no save_best)")
    return best[0]
