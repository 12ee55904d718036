"""Which checkpoint ``tools/train.py --resume`` continues from.

MMEngine's ``find_latest_checkpoint`` returns whatever ``last_checkpoint``
names, complete or not. ``AtomicCheckpointHook`` never leaves that pointer
naming a torn file, but a work dir can still hold one: written by a
non-atomic writer, cut short by a full disk, half copied from another
machine, or a pointer left naming a file that was moved or deleted.
"""
import logging
import os
import os.path as osp
import re
import zipfile
from typing import Optional

from mmengine.logging import print_log

LAST_CHECKPOINT = 'last_checkpoint'
_ITER_CHECKPOINT = re.compile(r'iter_(\d+)\.pth')


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


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint to resume ``work_dir``'s run from.

    The file ``last_checkpoint`` names, if complete: it, not the highest
    number, says which run is current (a work dir may keep an older run's
    later iterations). Otherwise the newest complete ``iter_<N>.pth`` in
    ``work_dir``, with a warning naming each file passed over and why.
    ``None`` when there is nothing to resume (a fresh run).

    Raises:
        FileNotFoundError: checkpoints exist but none is complete; starting
            from scratch instead would silently discard the run.
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
            damage = checkpoint_damage(named)
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
        damage = checkpoint_damage(path)
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
        raise FileNotFoundError(
            f'Nothing to resume in {work_dir}: no checkpoint there is '
            f'complete ({"; ".join(passed_over)}). Pass --resume CKPT to '
            'choose one, or remove them to start afresh.')
    return None
