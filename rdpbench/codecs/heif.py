"""HEVC intra in a HEIF container (libheif + x265 via pillow-heif). Container bytes are counted."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from rdpbench.bitstream import Header
from rdpbench.codecs.base import Codec, Knob, OperatingPoint
from rdpbench.codecs.pillow_codecs import check_declared_size
from rdpbench.codecs.registry import register_codec
from rdpbench.errors import ConfigError

HEIF_CHROMA = (420, 422, 444)


@register_codec
class HEIF(Codec):
    name = "heif"
    codec_id = 6
    knobs = (Knob("quality", 0, 100),)
    rate_knob = "quality"

    def __init__(self, ops=None, chroma: int = 444, preset: str = "slow") -> None:
        if chroma not in HEIF_CHROMA:
            raise ConfigError(f"codec 'heif': chroma {chroma!r} not in {list(HEIF_CHROMA)}")
        self.chroma, self.preset = chroma, preset
        super().__init__(ops)

    def encode_payload(self, image: np.ndarray, op: OperatingPoint) -> bytes:
        import pillow_heif

        heif = pillow_heif.from_bytes(mode="RGB", size=(image.shape[1], image.shape[0]), data=image.tobytes())
        buffer = io.BytesIO()
        # No EXIF/XMP/ICC; x265 single-threaded so the bytes do not depend on scheduling.
        heif.save(buffer, quality=int(op["quality"]), chroma=self.chroma, save_nclx_profile=False,
                  enc_params={"preset": self.preset, "x265:pools": "none", "x265:frame-threads": "1"})
        return buffer.getvalue()

    def decode_payload(self, payload: bytes, header: Header, op: OperatingPoint) -> np.ndarray:
        import pillow_heif

        heif = pillow_heif.open_heif(io.BytesIO(payload), convert_hdr_to_8bit=True)
        check_declared_size(heif[0].size, header, self.name)  # open_heif reads the boxes, decoding waits
        return np.asarray(heif[0].to_pillow().convert("RGB"))

    def config(self) -> dict[str, Any]:
        import pillow_heif

        return {**super().config(), "chroma": self.chroma, "preset": self.preset,
                "pillow_heif": pillow_heif.__version__, "libheif": pillow_heif.libheif_version()}
