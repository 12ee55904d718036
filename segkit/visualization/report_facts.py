"""The report's "Run" table: what a run's numbers depend on besides its
config (machine, precision, versions, commit, model size, data, time), from
the facts ``ReportHook`` records in ``run_info.json``."""
import datetime
import math
import time
from typing import Any, List, Mapping, Optional, Tuple

Row = Tuple[str, str]


def _duration(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(seconds)))


def _when(stamp: Any) -> Optional[str]:
    if isinstance(stamp, (int, float)):
        return time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(stamp))
    return str(stamp) if stamp else None


def _machine(machine: Mapping[str, Any]) -> List[Row]:
    rows = [('CPU', f'{machine.get("cpu", "?")}: {machine.get("threads")} '
             f'torch threads on {machine.get("cpus")} CPUs'
             + (', native bf16' if machine.get('cpu_native_bf16') else ''))]
    if machine.get('gpu'):
        rows.append(('GPU', f'{machine.get("gpus", 1)} x {machine["gpu"]}'))
    return rows


def _data(data: Mapping[str, Any]) -> List[Row]:
    rows = []
    for split, facts in data.items():
        if facts:
            where = f' in {facts["source"]}' if facts.get('source') else ''
            rows.append((f'{split} data', f'{facts["images"]} images{where} '
                         f'({facts.get("type", "?")})'))
    return rows


def _checkpoint(checkpoint: Mapping[str, Any]) -> List[Row]:
    rows = [('checkpoint', str(checkpoint.get('path')))]
    if checkpoint.get('iter') is not None:
        trained = f'{checkpoint["iter"]} iterations'
        if checkpoint.get('epoch'):
            trained += f' ({checkpoint["epoch"]} epochs)'
        rows.append(('trained', trained))
    for key, label in (('experiment_name', 'trained in'),
                       ('time', 'saved')):
        if checkpoint.get(key):
            rows.append((label, str(checkpoint[key])))
    return rows


def facts_rows(facts: Mapping[str, Any]) -> List[Row]:
    """``(name, text)`` rows of a run's facts, in reading order; a fact the
    run did not record is left out."""
    rows: List[Row] = []
    if facts.get('config'):
        rows.append(('config', str(facts['config'])))
    started = _when(facts.get('started'))
    if started:
        rows.append(('started', started))
    if isinstance(facts.get('wall_time'), (int, float)):
        rows.append(('wall time', _duration(facts['wall_time'])))
    schedule = facts.get('schedule') or {}
    if schedule.get('max_iters'):
        end = facts.get('end_iter', schedule['max_iters'])
        text = f'{schedule.get("start_iter", 0)} -> {end} of ' \
            f'{schedule["max_iters"]}'
        if schedule.get('start_iter'):
            text += ' (resumed)'
        if schedule.get('minutes'):
            text += f' (fitted to {schedule["minutes"]:g} minutes)'
        rows.append(('iterations', text))
    if facts.get('checkpoint'):
        rows += _checkpoint(facts['checkpoint'])
    model = facts.get('model') or {}
    if model.get('line'):
        rows.append(('model', model['line']))
    if facts.get('weights'):
        rows.append(('weights', str(facts['weights'])))
    rows += _data(facts.get('data') or {})
    if facts.get('precision'):
        rows.append(('precision', str(facts['precision'])))
    rows += _machine(facts.get('machine') or {})
    versions = facts.get('versions') or {}
    if versions:
        rows.append(('versions', ', '.join(f'{k} {v}'
                                           for k, v in versions.items())))
    rows.append(('git commit', facts.get('git') or 'not a git checkout'))
    return rows


def loss_rows(last: Mapping[str, float], is_loss) -> List[Row]:
    """The losses of the last logged training line, named by iteration (the
    log interval decides which iteration that is)."""
    step = last.get('iter', math.nan)
    at = str(int(step)) if float(step).is_integer() else str(step)
    return [(f'{key} at iteration {at}',
             'nan' if math.isnan(value) else f'{value:.4f}')
            for key, value in last.items() if is_loss(key)]
