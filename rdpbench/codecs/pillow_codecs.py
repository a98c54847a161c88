"""JPEG, WebP and AVIF through Pillow (libjpeg-turbo, libwebp, libavif+aom as bundled in its wheels)."""

from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from rdpbench.bitstream import Header
from rdpbench.codecs.base import Codec, Knob, OperatingPoint
from rdpbench.codecs.registry import register_codec
from rdpbench.errors import BitstreamError, ConfigError


def check_declared_size(size: tuple[int, int], header: Header, codec: str) -> None:
    """A payload whose own (width, height) differs from the rdpbench header is refused before it is decoded."""
    if tuple(size) != (header.width, header.height):
        raise BitstreamError(f"payload declares {size[0]}x{size[1]}, the header {header.width}x{header.height}",
                             codec, "payload")


class PillowCodec(Codec):
    """Encode with Image.save(format=...), decode with Image.open: the library's own container."""

    pillow_format: ClassVar[str]

    def save_options(self, op: OperatingPoint) -> dict[str, Any]:
        raise NotImplementedError

    def encode_payload(self, image: np.ndarray, op: OperatingPoint) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(image, "RGB").save(buffer, format=self.pillow_format, **self.save_options(op))
        return buffer.getvalue()

    def decode_payload(self, payload: bytes, header: Header, op: OperatingPoint) -> np.ndarray:
        with Image.open(io.BytesIO(payload), formats=[self.pillow_format]) as img:
            check_declared_size(img.size, header, self.name)  # before the pixels are allocated
            img.load()
            return np.asarray(img.convert("RGB"))

    def config(self) -> dict[str, Any]:
        import PIL

        return {**super().config(), "pillow": PIL.__version__, **self.save_options({k.name: k.low for k in self.knobs})}


JPEG_SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


@register_codec
class JPEG(PillowCodec):
    """Baseline JPEG (libjpeg-turbo via Pillow), optimised Huffman tables by default.

    `optimize=False` with 4:2:0 is Pillow's default save, the recipe of CompressAI's `bench` from which
    most papers' JPEG curves come (conf/codec/jpeg_compressai.yaml); optimised tables spend fewer bits.
    """

    name = "jpeg"
    codec_id = 1
    pillow_format = "JPEG"
    knobs = (Knob("quality", 1, 100),)
    rate_knob = "quality"

    def __init__(self, ops=None, subsampling: str = "4:2:0", optimize: bool = True) -> None:
        if subsampling not in JPEG_SUBSAMPLING:
            raise ConfigError(f"codec 'jpeg': subsampling {subsampling!r} not in {sorted(JPEG_SUBSAMPLING)}")
        self.subsampling, self.optimize = subsampling, bool(optimize)
        super().__init__(ops)

    def save_options(self, op: OperatingPoint) -> dict[str, Any]:
        return {"quality": int(op["quality"]), "subsampling": JPEG_SUBSAMPLING[self.subsampling],
                "optimize": self.optimize}


@register_codec
class WebP(PillowCodec):
    """Lossy WebP (libwebp via Pillow), slowest/best method by default."""

    name = "webp"
    codec_id = 2
    pillow_format = "WEBP"
    knobs = (Knob("quality", 0, 100),)
    rate_knob = "quality"

    def __init__(self, ops=None, method: int = 6) -> None:
        self.method = method
        super().__init__(ops)

    def save_options(self, op: OperatingPoint) -> dict[str, Any]:
        return {"quality": int(op["quality"]), "method": self.method, "lossless": False, "exact": False}


AVIF_SUBSAMPLING = ("4:4:4", "4:2:2", "4:2:0")


@register_codec
class AVIF(PillowCodec):
    """AVIF through Pillow's built-in libavif (aom encoder); single-threaded for reproducible bytes."""

    name = "avif"
    codec_id = 3
    pillow_format = "AVIF"
    knobs = (Knob("quality", 0, 100),)
    rate_knob = "quality"

    def __init__(self, ops=None, speed: int = 6, subsampling: str = "4:4:4") -> None:
        if subsampling not in AVIF_SUBSAMPLING:
            raise ConfigError(f"codec 'avif': subsampling {subsampling!r} not in {list(AVIF_SUBSAMPLING)}")
        if not 0 <= speed <= 10:
            raise ConfigError(f"codec 'avif': speed {speed} outside [0, 10]")
        self.speed, self.subsampling = speed, subsampling
        super().__init__(ops)

    def save_options(self, op: OperatingPoint) -> dict[str, Any]:
        return {"quality": int(op["quality"]), "speed": self.speed, "subsampling": self.subsampling,
                "max_threads": 1}
