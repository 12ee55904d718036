"""LoadSegMap's modes and the loaders' errors, which must name the file."""
import cv2
import numpy as np
import pytest
from PIL import Image

from segkit.datasets.transforms import LoadImageFromFile, LoadSegMap
from segkit.registry import TRANSFORMS

INDEX = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)


def load_seg(path, **info) -> dict:
    return LoadSegMap()(dict(seg_map_path=str(path), seg_fields=[], **info))


def test_segkit_loader_is_the_registered_one():
    assert TRANSFORMS.get('LoadImageFromFile') is LoadImageFromFile
    assert TRANSFORMS.get('LoadSegMap') is LoadSegMap


def test_index_png_is_read_as_is(tmp_path):
    path = tmp_path / 'a.png'
    cv2.imwrite(str(path), INDEX)
    results = load_seg(path)
    assert results['gt_seg_map'].dtype == np.uint8
    np.testing.assert_array_equal(results['gt_seg_map'], INDEX)
    assert results['seg_fields'] == ['gt_seg_map']
    assert LoadSegMap()(results)['seg_fields'] == ['gt_seg_map']


def test_16_bit_png_becomes_int64(tmp_path):
    path = tmp_path / 'a.png'
    values = INDEX.astype(np.uint16) * 300
    cv2.imwrite(str(path), values)
    seg = load_seg(path)['gt_seg_map']
    assert seg.dtype == np.int64
    np.testing.assert_array_equal(seg, values)


@pytest.mark.parametrize('fmt', ['PNG', 'GIF'])
def test_paletted_file_gives_indices_not_colours(tmp_path, fmt):
    # Carvana's masks are palette GIFs (cv2 cannot read GIF) and VOC's are
    # palette PNGs (cv2 would expand them to colours).
    path = tmp_path / f'a.{fmt.lower()}'
    image = Image.fromarray(INDEX, mode='P')
    image.putpalette([0, 0, 0, 255, 255, 255, 200, 10, 10] + [0] * 759)
    image.save(path, format=fmt)
    seg = load_seg(path)['gt_seg_map']
    np.testing.assert_array_equal(seg, INDEX)


def test_colour_gif_with_palette(tmp_path):
    path = tmp_path / 'a.gif'
    image = Image.fromarray(INDEX, mode='P')
    image.putpalette([9, 9, 9, 10, 20, 30, 40, 50, 60] + [0] * 759)
    image.save(path)
    seg = load_seg(path, palette=[[40, 50, 60], [10, 20, 30]])['gt_seg_map']
    assert seg.tolist() == [[255, 1, 0], [0, 1, 255]]


def test_colour_mask_without_palette_is_an_error(tmp_path):
    path = tmp_path / 'a_L.png'
    cv2.imwrite(str(path), np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(ValueError, match='expected one channel') as err:
        load_seg(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize('palette,ignore_index,message', [
    ([[1, 2, 3], [1, 2, 3]], 255, 'distinct colours'),
    ([[1, 2, 3], [4, 5, 6]], 1, 'ignore_index'),
])
def test_bad_palette(tmp_path, palette, ignore_index, message):
    path = tmp_path / 'a_L.png'
    cv2.imwrite(str(path), np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(ValueError, match=message):
        load_seg(path, palette=palette, ignore_index=ignore_index)


def test_size_mismatch_names_both_files(camvid_sample_root, tmp_path):
    img_path = camvid_sample_root / 'val' / '0016E5_07959.png'
    seg_path = tmp_path / 'small.png'
    cv2.imwrite(str(seg_path), np.zeros((180, 240), np.uint8))
    results = LoadImageFromFile()(dict(img_path=str(img_path)))
    results['seg_map_path'] = str(seg_path)
    with pytest.raises(ValueError, match=r'180x240.*360x480') as err:
        LoadSegMap()(results)
    assert str(img_path) in str(err.value) and str(seg_path) in str(err.value)


def test_native_mask_after_resized_image_is_fine(camvid_sample_root):
    # Test pipelines resize the image and then load the native-size mask.
    results = LoadImageFromFile()(dict(
        img_path=str(camvid_sample_root / 'val' / '0016E5_07959.png'),
        seg_map_path=str(camvid_sample_root / 'val_labels' /
                         '0016E5_07959_L.png'),
        palette=[[128, 64, 128]], ignore_index=255))
    results = TRANSFORMS.build(dict(type='Resize', scale=(240, 180)))(results)
    results = LoadSegMap()(results)
    assert results['img'].shape[:2] == (180, 240)
    assert results['gt_seg_map'].shape == (360, 480)


def truncated_png(camvid_sample_root, tmp_path):
    data = (camvid_sample_root / 'val' / '0016E5_07959.png').read_bytes()
    path = tmp_path / 'truncated.png'
    path.write_bytes(data[:len(data) // 2])
    return path


@pytest.mark.parametrize('content', ['truncated', b'not an image', b''])
def test_corrupt_image_names_the_file(camvid_sample_root, tmp_path,
                                      content):
    if content == 'truncated':
        path = truncated_png(camvid_sample_root, tmp_path)
    else:
        path = tmp_path / 'bad.png'
        path.write_bytes(content)
    with pytest.raises(ValueError) as err:
        LoadImageFromFile()(dict(img_path=str(path)))
    assert str(path) in str(err.value)
    assert LoadImageFromFile(ignore_empty=True)(dict(img_path=str(path))) \
        is None


@pytest.mark.parametrize('content', ['truncated', b'GIF89a broken', b''])
def test_corrupt_mask_names_the_file(camvid_sample_root, tmp_path, content):
    if content == 'truncated':
        path = truncated_png(camvid_sample_root, tmp_path)
    else:
        path = tmp_path / 'bad.gif'
        path.write_bytes(content)
    for info in (dict(), dict(palette=[[0, 0, 0]])):
        with pytest.raises(ValueError) as err:
            load_seg(path, **info)
        assert str(path) in str(err.value)


def test_missing_files_are_named(tmp_path):
    missing = tmp_path / 'missing.png'
    with pytest.raises(FileNotFoundError, match='missing.png'):
        LoadImageFromFile()(dict(img_path=str(missing)))
    with pytest.raises(FileNotFoundError, match='missing.png'):
        load_seg(missing)
