"""Where the model fails, in the report: which class each class is most
often mistaken for (from the recorded confusion matrix), and for a test run
what ``ReportHook`` records in ``failures.json``: the images scored lowest
and, in a binary task, the empty frames on which an object is predicted."""
import html
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .confusion import most_confused
from .html_parts import muted, panel_figure, table


def _confused_line(name: str, found: Any, classes: Sequence[str]) -> str:
    if found is None:
        return f'{name}: no pixels in the ground truth'
    other, share = found
    if share == 0:
        return f'{name}: never mistaken'
    return f'{name}: {100 * share:.1f} % as {classes[other]}'


def most_confused_list(recorded: Mapping[str, Any]) -> str:
    """One line per class of ``evaluation.json``'s confusion matrix: the
    class its ground-truth pixels are most often predicted as, and the
    share, e.g. ``Pole: 38.2 % as Building``."""
    classes = recorded['classes']
    lines = ''.join(
        f'<li>{html.escape(_confused_line(name, found, classes))}</li>'
        for name, found in zip(classes,
                               most_confused(recorded['confusion'])))
    return ('<h3>Most confused with</h3>'
            f'<ul class="confused" id="most-confused">{lines}</ul>')


def _image_name(entry: Mapping[str, Any]) -> str:
    return Path(str(entry['image'])).name


def _panels(run_dir: Path, element_id: str,
            entries: Sequence[Mapping[str, Any]],
            caption: Callable[[int, Mapping[str, Any]], str]) -> str:
    """A grid of the entries' panels (those drawn), in order."""
    figures = ''.join(
        panel_figure(run_dir, run_dir / entry['panel'], caption(rank, entry))
        for rank, entry in enumerate(entries, 1) if entry.get('panel'))
    return f'<div class="grid" id="{element_id}">{figures}</div>'


def _false_positives(run_dir: Path, failures: Mapping[str, Any],
                     classes: Sequence[str]) -> str:
    found = failures['false_positives']
    thing = classes[1] if len(classes) == 2 else 'object'
    drawn = sum(1 for entry in found if entry.get('panel'))
    summary = (f'{failures["empty_frames"]} of {failures["images"]} test '
               f'images have no {thing} in the ground truth; the model '
               f'predicts {thing} pixels on {len(found)} of them'
               + (f' (the {drawn} with the most are drawn).'
                  if drawn < len(found) else '.'))
    page = '<h3>False positives on empty frames</h3>' + muted(summary)
    if found:
        page += table(('image', 'false pixels'),
                      [(_image_name(e), str(e['pixels'])) for e in found])
        page += _panels(run_dir, 'empty-false-positives', found,
                        lambda _, e: f'{_image_name(e)}: {e["pixels"]} '
                        'false pixels')
    return page


def failures_section(run_dir: Path, failures: Mapping[str, Any],
                     classes: Sequence[str]) -> str:
    """The lowest-scored test images as captioned panels, lowest first,
    then in a binary task the empty frames with false positives.

    Args:
        run_dir: The run folder, which holds the panels.
        failures: ``failures.json`` as ``ReportHook`` writes it.
        classes: The class names, background first in a binary task.
    """
    worst = failures['worst']
    page = ('<h3>Lowest-scoring images</h3>' + muted(
        f'The {len(worst)} lowest of {failures["images"]} test images by '
        f'{failures["rule"]}; lowest first.'))
    page += _panels(run_dir, 'worst-images', worst,
                    lambda rank, e: f'{rank}. {_image_name(e)}: '
                    f'{e["score"]:.4f}')
    if 'false_positives' in failures:
        page += _false_positives(run_dir, failures, classes)
    return page
