"""JPEG XL (libjxl) and JPEG 2000 (OpenJPEG) through the imagecodecs wheels."""

from __future__ import annotations

from typing import Any

import numpy as np

from rdpbench.bitstream import Header
from rdpbench.codecs.base import Codec, Knob, OperatingPoint
from rdpbench.codecs.registry import register_codec


def _imagecodecs_version() -> str:
    import imagecodecs

    return imagecodecs.__version__


@register_codec
class JPEGXL(Codec):
    """JPEG XL, bare codestream (no ISO-BMFF container). Rate knob: Butteraugli distance."""

    name = "jpegxl"
    codec_id = 4
    knobs = (Knob("distance", 0.1, 25.0, step=0.01, rate_increasing=False),)
    rate_knob = "distance"

    def __init__(self, ops=None, effort: int = 7) -> None:
        self.effort = effort
        super().__init__(ops)

    def encode_payload(self, image: np.ndarray, op: OperatingPoint) -> bytes:
        import imagecodecs

        return imagecodecs.jpegxl_encode(image, distance=float(op["distance"]), effort=self.effort,
                                         usecontainer=False, numthreads=1)

    def decode_payload(self, payload: bytes, header: Header, op: OperatingPoint) -> np.ndarray:
        import imagecodecs

        return imagecodecs.jpegxl_decode(payload, numthreads=1)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "effort": self.effort, "imagecodecs": _imagecodecs_version()}


@register_codec
class JPEG2000(Codec):
    """JPEG 2000 raw codestream (j2k, no JP2 box). OpenJPEG's rate knob is a target PSNR in dB."""

    name = "jpeg2000"
    codec_id = 5
    knobs = (Knob("psnr_target", 1, 80, step=0.5),)
    rate_knob = "psnr_target"

    def encode_payload(self, image: np.ndarray, op: OperatingPoint) -> bytes:
        import imagecodecs

        return imagecodecs.jpeg2k_encode(image, level=float(op["psnr_target"]), codecformat="j2k",
                                         numthreads=1)

    def decode_payload(self, payload: bytes, header: Header, op: OperatingPoint) -> np.ndarray:
        import imagecodecs

        return imagecodecs.jpeg2k_decode(payload, numthreads=1)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "imagecodecs": _imagecodecs_version()}
