"""Kaggle RLE: checked against the shipped csv and GIF masks, and its
errors."""
import numpy as np
import pytest
from PIL import Image

from segkit.datasets import read_rle_csv, rle_decode, rle_encode


def reference_encode(mask: np.ndarray) -> str:
    """The obvious per-pixel loop, to check the vectorised encoder."""
    runs, start = [], None
    flat = list(mask.ravel()) + [0]
    for i, value in enumerate(flat):
        if value and start is None:
            start = i
        elif not value and start is not None:
            runs += [start + 1, i - start]
            start = None
    return ' '.join(map(str, runs))


def test_known_example_is_row_major_and_1_indexed():
    mask = np.array([[0, 1, 1],
                     [1, 0, 1]], np.uint8)
    assert rle_encode(mask) == '2 3 6 1'
    decoded = rle_decode('2 3 6 1', (2, 3))
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, mask)


def test_empty_and_full_masks():
    assert rle_encode(np.zeros((4, 5), np.uint8)) == ''
    np.testing.assert_array_equal(rle_decode('', (4, 5)),
                                  np.zeros((4, 5), np.uint8))
    np.testing.assert_array_equal(rle_decode(' \n', (4, 5)),
                                  np.zeros((4, 5), np.uint8))
    assert rle_encode(np.full((4, 5), 255, np.uint8)) == '1 20'
    np.testing.assert_array_equal(rle_decode('1 20', (4, 5)),
                                  np.ones((4, 5), np.uint8))


def test_random_masks_match_the_reference():
    rng = np.random.default_rng(0)
    for density in (0.05, 0.5, 0.95):
        mask = (rng.random((17, 23)) < density).astype(np.uint8)
        mask[0, 0] = mask[-1, -1] = 1  # runs touching both ends
        rle = rle_encode(mask)
        assert rle == reference_encode(mask)
        np.testing.assert_array_equal(rle_decode(rle, mask.shape), mask)
        assert rle_encode(mask.astype(bool)) == rle


def test_adjacent_runs_decode():
    np.testing.assert_array_equal(rle_decode('1 2 3 1', (1, 5)),
                                  [[1, 1, 1, 0, 0]])


def test_shipped_csv_matches_the_gif_masks(carvana_root):
    rows = read_rle_csv(str(carvana_root / 'train_masks.csv'))
    gifs = sorted((carvana_root / 'train_masks').glob('*_mask.gif'))
    assert len(gifs) >= 26
    empty = 0
    for gif in gifs:
        with Image.open(gif) as im:
            mask = np.array(im)
        rle = rows[gif.name[:-len('_mask.gif')] + '.jpg']
        empty += rle == ''
        assert set(np.unique(mask)) <= {0, 1}
        assert rle_encode(mask) == rle, gif.name
        np.testing.assert_array_equal(rle_decode(rle, mask.shape), mask,
                                      err_msg=gif.name)
    assert empty >= 6  # frames without a car are in the comparison too


@pytest.mark.parametrize('rle,message', [
    ('1 2 3', r'3 tokens: expected an even number'),
    ('1 a', r"token 'a' is not a non-negative integer"),
    ('1.5 2', r"token '1.5'"),
    ('-1 2', r"token '-1'"),
    ('1 99999999999999999999', r'at most 18 digits'),
    ('1 2 0 3', r'pair 1 \(start 0, length 3\): start below 1'),
    ('1 0', r'pair 0 \(start 1, length 0\): length below 1'),
    ('5 3', r'pair 0 \(start 5, length 3\): run past the last pixel of a '
     r'2x3 \(HxW\) mask, 6 pixels'),
    ('4 2 1 2', r'pair 1 starts at 1, before pair 0 \(start 4, length 2\) '
     r'ends: expected sorted, non-overlapping runs'),
    ('1 3 2 2', r'pair 1 starts at 2, before pair 0'),
])
def test_malformed_rle(rle, message):
    with pytest.raises(ValueError, match=message):
        rle_decode(rle, (2, 3))


def test_bad_shapes():
    with pytest.raises(ValueError, match=r'expected \(height, width\)'):
        rle_decode('1 2', (0, 3))
    with pytest.raises(ValueError, match=r'expected a 2-D'):
        rle_encode(np.zeros((2, 3, 1)))


def write(path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_read_rle_csv(tmp_path):
    path = write(tmp_path / 'm.csv',
                 'img,rle_mask\na_01.jpg,1 2 5 1\n\nb_01.jpg,\n')
    assert read_rle_csv(path) == {'a_01.jpg': '1 2 5 1', 'b_01.jpg': ''}


@pytest.mark.parametrize('text,message', [
    ('image,rle\na.jpg,1 2\n', r"line 1: expected the header 'img,rle_mask'"),
    ('', r'line 1: expected the header'),
    ('img,rle_mask\na.jpg,1 2,x\n', r'line 2: expected 2 fields'),
    ('img,rle_mask\na.jpg,1 2\nb.jpg,\na.jpg,3 1\n',
     r"line 4: image 'a.jpg' already has a mask on line 2"),
])
def test_bad_rle_csv(tmp_path, text, message):
    path = write(tmp_path / 'm.csv', text)
    with pytest.raises(ValueError, match=message) as err:
        read_rle_csv(path)
    assert path in str(err.value)


def test_missing_rle_csv(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.csv'):
        read_rle_csv(str(tmp_path / 'missing.csv'))
