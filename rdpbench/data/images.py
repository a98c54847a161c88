"""Reading any image file as 8-bit RGB, in one documented way.

Conversions (recorded in each result row's `conversion` column):
- RGB 8-bit: unchanged ("none").
- 16-bit (grayscale or RGB PNG/TIFF): round(v / 257) to 8 bits ("16bit->8bit").
- grayscale (L, 1, I, F): replicated to three channels ("L->RGB").
- palette (P, PA): expanded through the palette ("P->RGB").
- alpha (RGBA, LA, PA): the alpha channel is dropped, as Pillow's convert("RGB") and
  CompressAI's evaluation do ("RGBA->RGB (alpha dropped)").
- CMYK: Pillow's naive CMYK->RGB (no ICC colour management) ("CMYK->RGB").
- EXIF orientation 2-8 (cameras store the sensor's pixels and a tag saying how to turn
  them): applied, as viewers show the photo, and recorded ("exif-orientation=6 applied:
  rotated 90 degrees clockwise"). Several notes are joined with "; ".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from rdpbench.errors import ImageLoadError


def _sixteen_bit_to_rgb8(array: np.ndarray) -> np.ndarray:
    array = np.round(array.astype(np.float64) / 257.0).clip(0, 255).astype(np.uint8)
    return np.repeat(array[..., None], 3, axis=2) if array.ndim == 2 else array[..., :3]


def _is_16bit_png(img: Image.Image) -> bool:
    # Pillow opens 48/64-bit RGB(A) PNGs as 8-bit RGB by truncation; its tile raw mode tells.
    return img.format == "PNG" and any(";16" in str(t.args) for t in img.tile)


# EXIF Orientation tag (0x0112) value -> the transpose that shows the image upright (EXIF 2.32, 4.6.4)
ORIENTATION = {2: (Image.Transpose.FLIP_LEFT_RIGHT, "mirrored left-right"),
               3: (Image.Transpose.ROTATE_180, "rotated 180 degrees"),
               4: (Image.Transpose.FLIP_TOP_BOTTOM, "mirrored top-bottom"),
               5: (Image.Transpose.TRANSPOSE, "transposed"),
               6: (Image.Transpose.ROTATE_270, "rotated 90 degrees clockwise"),
               7: (Image.Transpose.TRANSVERSE, "transversed"),
               8: (Image.Transpose.ROTATE_90, "rotated 90 degrees counter-clockwise")}
EXIF_ORIENTATION_TAG = 0x0112


def _to_rgb8(img: Image.Image, path: Path) -> tuple[np.ndarray, str]:
    if _is_16bit_png(img) and img.mode in ("RGB", "RGBA"):
        import imagecodecs

        return _sixteen_bit_to_rgb8(imagecodecs.png_decode(path.read_bytes())), "16bit->8bit"
    img.load()
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img), "none"
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        return _sixteen_bit_to_rgb8(np.asarray(img.convert("I"))), "16bit->8bit"
    notes = {"RGBA": "RGBA->RGB (alpha dropped)", "LA": "LA->RGB (alpha dropped)",
             "PA": "PA->RGB (alpha dropped)", "P": "P->RGB", "CMYK": "CMYK->RGB",
             "L": "L->RGB", "1": "1bit->RGB", "F": "F->RGB"}
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        notes["P"] = "P->RGB (transparency dropped)"
    return np.asarray(img.convert("RGB")), notes.get(mode, f"{mode}->RGB")


def _upright(array: np.ndarray, note: str, orientation: int) -> tuple[np.ndarray, str]:
    if orientation not in ORIENTATION:
        return array, note
    method, what = ORIENTATION[orientation]
    turned = np.asarray(Image.fromarray(array).transpose(method))
    applied = f"exif-orientation={orientation} applied: {what}"
    return turned, applied if note == "none" else f"{note}; {applied}"


def load_image(path: str | Path) -> tuple[np.ndarray, str]:
    """Return (HxWx3 uint8 RGB array, conversion note); ImageLoadError names the file otherwise."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            array, note = _to_rgb8(img, path)  # first: getexif() loads a PNG, which hides its 16-bit tiles
            return _upright(array, note, img.getexif().get(EXIF_ORIENTATION_TAG, 1))
    except FileNotFoundError:
        raise ImageLoadError(f"image file not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(f"cannot read image {path}: {exc} (truncated or not an image? "
                             f"re-download it or remove it from the dataset folder)") from exc
