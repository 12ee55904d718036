"""The report's "most confused with" lines from a hand-made confusion
matrix, and its "Where the model fails" section from a failures.json."""
import json
from html import escape
from pathlib import Path

from segkit.visualization.confusion import most_confused
from segkit.visualization.report import write_report
from test_report import make_train_run, parse, write_panels

CLASSES = ['Sky', 'Building', 'Pole', 'Bicyclist <b>']
# rows: ground truth; columns: prediction
MATRIX = [[90, 10, 0, 0],   # Sky: 10 % as Building
          [5, 95, 0, 0],    # Building: 5 % as Sky
          [0, 38, 62, 0],   # Pole: 38 % as Building
          [0, 0, 0, 0]]     # Bicyclist: no pixels


def test_most_confused_is_the_largest_share_off_the_diagonal():
    assert most_confused(MATRIX) == [(1, 0.1), (0, 0.05), (1, 0.38), None]
    # never mistaken: share 0; a tie goes to the lower class id
    assert most_confused([[4, 0, 0], [1, 2, 1], [0, 0, 0]]) == [
        (1, 0.0), (0, 0.25), None]


def test_the_report_says_per_class_what_it_is_most_confused_with(tmp_path):
    run = make_train_run(tmp_path)
    (run / 'evaluation.json').write_text(json.dumps(dict(
        source='test', classes=CLASSES, confusion=MATRIX)))
    page = write_report(run).read_text()
    assert ('<h3>Most confused with</h3><ul class="confused" '
            'id="most-confused"><li>Sky: 10.0 % as Building</li>'
            '<li>Building: 5.0 % as Sky</li><li>Pole: 38.0 % as Building</li>'
            f'<li>{escape(CLASSES[3])}: no pixels in the ground truth</li>'
            '</ul>') in page
    assert 'Where the model fails' not in page  # a training run


def write_test_run(root: Path, failures: dict) -> Path:
    """A tools/test.py run folder of a binary task, with ``failures`` and
    the panels they name."""
    run = root / 'exp' / '20260106_000000'
    run.mkdir(parents=True)
    (run / '20260106_000000.json').write_text(json.dumps(dict(Dice=0.5)))
    (run / 'evaluation.json').write_text(json.dumps(dict(
        source='test', classes=['background', 'car'],
        confusion=[[8, 2], [1, 9]])))
    (run / 'failures.json').write_text(json.dumps(failures))
    stems = {Path(e['panel']).stem for key in ('worst', 'false_positives')
             for e in failures.get(key, ()) if e['panel']}
    write_panels(run, 'test_failures', sorted(stems))
    return run


def entry(stem: str, key: str, value, drawn: bool = True) -> dict:
    return {'image': f'/data/val/{stem}.jpg', key: value,
            'panel': f'vis_data/test_failures/{stem}.png' if drawn else None}


def test_the_worst_images_and_empty_frame_false_positives_are_shown(
        tmp_path):
    run = write_test_run(tmp_path, dict(
        rule="the image's foreground Dice", images=16, empty_frames=6,
        worst=[entry('car_07', 'score', 0.0), entry('car_02', 'score', 0.25)],
        false_positives=[entry('car_07', 'pixels', 900),
                         entry('car_09', 'pixels', 40),
                         entry('car_05', 'pixels', 3, drawn=False)]))
    page = write_report(run).read_text()
    assert '<h2 id="failures">Where the model fails</h2>' in page
    assert ("The 2 lowest of 16 test images by the image&#x27;s foreground "
            'Dice; lowest first.') in page
    assert ('6 of 16 test images have no car in the ground truth; the model '
            'predicts car pixels on 3 of them (the 2 with the most are '
            'drawn).') in page
    assert ('<tr><td>car_07.jpg</td><td class="num">900</td></tr><tr><td>'
            'car_09.jpg</td><td class="num">40</td></tr><tr><td>car_05.jpg'
            '</td><td class="num">3</td></tr>') in page
    worst = page.split('id="worst-images"')[1].split('</div>')[0]
    assert parse(worst).refs[0::2] == [
        'vis_data/test_failures/car_07.png',
        'vis_data/test_failures/car_02.png']
    assert ('1. car_07.jpg: 0.0000' in worst
            and worst.index('1. car_07.jpg') < worst.index(
                '2. car_02.jpg: 0.2500'))
    shown = page.split('id="empty-false-positives"')[1].split('</div>')[0]
    assert [alt for _, alt in parse(shown).images] == ['car_07', 'car_09']
    assert 'car_07.jpg: 900 false pixels' in shown
    # Every picture is inside the page.
    assert all(src.startswith('data:image/')
               for src, _ in parse(page).images)


def test_without_false_positives_recorded_there_is_no_such_part(tmp_path):
    # ReportHook records none for a task of more than two classes.
    run = write_test_run(tmp_path, dict(
        rule='mIoU', images=4, worst=[entry('a', 'score', 0.5)]))
    page = write_report(run).read_text()
    assert 'id="worst-images"' in page
    assert 'False positives on empty frames' not in page
