"""Downscale before encoding, upscale after decoding: how classical codecs reach 0.01-0.05 bpp.

The scale factor is an operating-point knob, so it travels in the header; the
original size travels there too, so the decoder upsamples to exactly W x H.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from rdpbench.bitstream import Header
from rdpbench.codecs.base import Codec, Knob, OperatingPoint
from rdpbench.errors import BitstreamError, ConfigError

RESAMPLE_ID_BASE = 100  # header id = 100 + inner codec id
FILTERS = {"lanczos": Image.Resampling.LANCZOS, "bicubic": Image.Resampling.BICUBIC,
           "bilinear": Image.Resampling.BILINEAR, "box": Image.Resampling.BOX}

SCALE_KNOB = Knob("scale", 1.0, 32.0, step=0.125)


def _resize(image: np.ndarray, width: int, height: int, resample: Image.Resampling) -> np.ndarray:
    return np.asarray(Image.fromarray(image, "RGB").resize((width, height), resample))


class Resample(Codec):
    """Wrap any adapter; op = {scale: s, **inner op}; the inner sees a (W/s) x (H/s) image.

    Only the inner payload is stored: one rdpbench header covers both layers.
    """

    name = "resample"
    knobs = ()

    def __init__(self, inner: Codec, ops=None, down_filter: str = "lanczos", up_filter: str = "lanczos") -> None:
        for f in (down_filter, up_filter):
            if f not in FILTERS:
                raise ConfigError(f"codec 'resample': filter {f!r} not in {sorted(FILTERS)}")
        self.inner = inner
        self.name = f"resample-{inner.name}"
        self.codec_id = RESAMPLE_ID_BASE + inner.codec_id
        self.rate_knob = inner.rate_knob
        self.down_filter, self.up_filter = down_filter, up_filter
        super().__init__(ops)

    def all_knobs(self) -> tuple[Knob, ...]:
        return (SCALE_KNOB, *self.inner.all_knobs())

    # the header is the scale, then the inner codec's own fields (whatever it folds into them)
    def header_fields(self, op: OperatingPoint) -> tuple[int, ...]:
        return (SCALE_KNOB.to_field(op[SCALE_KNOB.name]), *self.inner.header_fields(self._inner_op(op)))

    def n_header_fields(self) -> int:
        return 1 + self.inner.n_header_fields()

    def op_from_fields(self, fields: tuple[int, ...]) -> OperatingPoint:
        return {SCALE_KNOB.name: SCALE_KNOB.from_field(fields[0]), **self.inner.op_from_fields(fields[1:])}

    def compute(self) -> tuple[str, str]:
        return self.inner.compute()

    @staticmethod
    def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
        return max(1, round(width / scale)), max(1, round(height / scale))

    def _inner_op(self, op: OperatingPoint) -> OperatingPoint:
        return {k: v for k, v in op.items() if k != SCALE_KNOB.name}

    def encode_payload(self, image: np.ndarray, op: OperatingPoint) -> bytes:
        height, width = image.shape[:2]
        small_w, small_h = self.scaled_size(width, height, op["scale"])
        small = _resize(image, small_w, small_h, FILTERS[self.down_filter]) if op["scale"] != 1 else image
        return self.inner.encode_payload(small, self._inner_op(op))

    def decode_payload(self, payload: bytes, header: Header, op: OperatingPoint) -> np.ndarray:
        small_w, small_h = self.scaled_size(header.width, header.height, op["scale"])
        inner_op = self._inner_op(op)
        try:
            small = self.inner.decode_payload(payload, self.inner.header_for(small_w, small_h, inner_op), inner_op)
        except BitstreamError as exc:  # name this codec: the stream is a resample stream
            raise BitstreamError(f"inner {self.inner.name}: {exc.detail}", self.name, exc.section) from exc
        if small.shape != (small_h, small_w, 3):
            raise BitstreamError(f"inner decoded {small.shape}, expected {(small_h, small_w, 3)}", self.name, "payload")
        if op["scale"] == 1:
            return small
        return _resize(small, header.width, header.height, FILTERS[self.up_filter])

    def config(self) -> dict[str, Any]:
        return {**super().config(), "inner": self.inner.config(), "down_filter": self.down_filter,
                "up_filter": self.up_filter}
