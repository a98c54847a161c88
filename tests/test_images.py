"""Every odd input format becomes 8-bit RGB in the one documented way, with the conversion named."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rdpbench.data.images import load_image
from rdpbench.errors import ImageLoadError


@pytest.fixture
def rgb(small_image):
    return small_image[:32, :48]


def save(tmp_path, image: Image.Image, name: str, **kw):
    path = tmp_path / name
    image.save(path, **kw)
    return path


def test_rgb_is_unchanged(tmp_path, rgb):
    array, note = load_image(save(tmp_path, Image.fromarray(rgb), "a.png"))
    assert note == "none" and np.array_equal(array, rgb)


def test_grayscale_is_replicated(tmp_path, rgb):
    gray = Image.fromarray(rgb).convert("L")
    array, note = load_image(save(tmp_path, gray, "g.png"))
    assert note == "L->RGB"
    assert np.array_equal(array[..., 0], np.asarray(gray)) and np.array_equal(array[..., 0], array[..., 2])


def test_rgba_drops_alpha(tmp_path, rgb):
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    array, note = load_image(save(tmp_path, Image.fromarray(rgba, "RGBA"), "a.png"))
    assert note == "RGBA->RGB (alpha dropped)" and np.array_equal(array, rgb)


def test_palette_is_expanded(tmp_path, rgb):
    pal = Image.fromarray(rgb).quantize(16)
    array, note = load_image(save(tmp_path, pal, "p.png"))
    assert note == "P->RGB"
    assert np.array_equal(array, np.asarray(pal.convert("RGB")))


def test_sixteen_bit_grayscale_is_rounded(tmp_path):
    values = np.array([[0, 257, 65535, 128 * 257 + 100]], dtype=np.uint16)
    array, note = load_image(save(tmp_path, Image.fromarray(values), "g16.png"))
    assert note == "16bit->8bit"
    assert array[0, :, 0].tolist() == [0, 1, 255, 128]


def test_sixteen_bit_rgb_png_is_rounded_not_truncated(tmp_path):
    import imagecodecs

    values = np.zeros((2, 2, 3), dtype=np.uint16)
    values[0, 0] = [65535, 257 * 10 + 200, 0]  # 10.78 -> 11 by rounding, 10 by truncation
    path = tmp_path / "rgb16.png"
    path.write_bytes(imagecodecs.png_encode(values))
    array, note = load_image(path)
    assert note == "16bit->8bit"
    assert array[0, 0].tolist() == [255, 11, 0]


def test_cmyk_is_converted(tmp_path, rgb):
    cmyk = Image.fromarray(rgb).convert("CMYK")
    array, note = load_image(save(tmp_path, cmyk, "c.jpg", quality=95))
    assert note == "CMYK->RGB"
    assert array.shape == rgb.shape and array.dtype == np.uint8


def test_truncated_file_names_the_file(tmp_path, rgb):
    path = save(tmp_path, Image.fromarray(rgb), "cut.png")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ImageLoadError, match="cut.png"):
        load_image(path)


def test_not_an_image_names_the_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello")
    with pytest.raises(ImageLoadError, match="notes.png"):
        load_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match="not found"):
        load_image(tmp_path / "nope.png")


def test_exif_orientation_is_applied_and_recorded(tmp_path, small_image):
    from rdpbench.data.images import EXIF_ORIENTATION_TAG

    stored = np.ascontiguousarray(small_image[:176, :256])  # as the sensor wrote it: 256 wide, 176 high
    exif = Image.Exif()
    exif[EXIF_ORIENTATION_TAG] = 6  # "rotate 90 degrees clockwise to view"
    Image.fromarray(stored).save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    image, conversion = load_image(tmp_path / "rotated.jpg")
    assert image.shape == (256, 176, 3)
    assert conversion == "exif-orientation=6 applied: rotated 90 degrees clockwise"
    plain, _ = load_image_plain(tmp_path / "rotated.jpg")
    assert np.array_equal(image, np.rot90(plain, k=-1))
    Image.fromarray(stored).convert("L").save(tmp_path / "gray.jpg", exif=exif)
    assert load_image(tmp_path / "gray.jpg")[1] == "L->RGB; exif-orientation=6 applied: rotated 90 degrees clockwise"


def load_image_plain(path):
    """The stored pixels, orientation ignored (what main did before EXIF was honoured)."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB")), "none"
