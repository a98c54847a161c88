"""The codec contract every adapter keeps.

An adapter turns an 8-bit RGB array into bytes and bytes back into an array. The
decoder gets nothing but the bytes and its own configuration: the header written
here carries the codec id, the image size and the operating point, and is counted
in bpp like every other byte.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Mapping, Sequence

import numpy as np

from rdpbench.bitstream import DEFAULT_MAX_PIXELS, Header
from rdpbench.errors import BitstreamError, CodecError, ConfigError

OperatingPoint = dict[str, Any]


@dataclass(frozen=True)
class Knob:
    """One rate/quality control of a codec.

    `step` is the unit in which the value travels in the header (value = int * step),
    so float knobs such as a JPEG XL distance survive the round trip exactly.
    `rate_increasing` says whether a larger value costs more bits; rate control
    bisects along it.
    """

    name: str
    low: float
    high: float
    step: float = 1
    rate_increasing: bool = True
    offset: float = 0  # lets knobs with negative ranges travel as unsigned varints

    def check(self, value: Any, codec: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"codec {codec!r}: operating point {self.name}={value!r} is not a number")
        if not self.low <= value <= self.high:
            raise ConfigError(
                f"codec {codec!r}: operating point {self.name}={value} is outside [{self.low}, {self.high}]")
        if abs(self.to_field(value) * self.step + self.offset - value) > 1e-9 * max(1.0, abs(value)):
            raise ConfigError(f"codec {codec!r}: {self.name}={value} is not a multiple of {self.step}")
        return value

    def to_field(self, value: float) -> int:
        return int(round((value - self.offset) / self.step))

    def from_field(self, field: int) -> float | int:
        value = field * self.step + self.offset
        return int(value) if float(self.step).is_integer() and float(self.offset).is_integer() else value

    def values_between(self) -> int:
        return self.to_field(self.high) - self.to_field(self.low)


def expand_operating_points(ops: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
                            knobs: Sequence[Knob], codec: str) -> list[OperatingPoint]:
    """Config `ops` is either {knob: [values]} (cartesian product) or a list of dicts."""
    if ops is None:
        return []
    if isinstance(ops, Mapping):
        names = list(ops)
        lists = [v if isinstance(v, (list, tuple)) else [v] for v in ops.values()]
        points = [dict(zip(names, combo)) for combo in itertools.product(*lists)]
    else:
        points = [dict(p) for p in ops]
    known = {k.name: k for k in knobs}
    for point in points:
        unknown = set(point) - set(known)
        if unknown:
            raise ConfigError(f"codec {codec!r}: unknown operating-point knob(s) {sorted(unknown)}; "
                              f"this codec has {sorted(known)}")
        missing = set(known) - set(point)
        if missing:
            raise ConfigError(f"codec {codec!r}: operating point {point} lacks {sorted(missing)}")
        for name, value in point.items():
            known[name].check(value, codec)
    return [{k.name: p[k.name] for k in knobs} for p in points]


def op_label(op: OperatingPoint) -> str:
    return ",".join(f"{k}={v}" for k, v in op.items())


def as_rgb8(image: np.ndarray, who: str) -> np.ndarray:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise CodecError(f"{who}: expected an 8-bit RGB HxWx3 array, got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


class Codec(ABC):
    """Base adapter. Subclasses set `name`, `codec_id`, `knobs` and the two payload methods.

    `name` is the registry name; `codec_id` is the integer written in the header
    (stable forever once released: bitstreams on disk depend on it).
    """

    name: ClassVar[str]
    codec_id: ClassVar[int]
    knobs: ClassVar[tuple[Knob, ...]]
    rate_knob: ClassVar[str]  # the knob that rate control bisects
    #: one encode yields every operating point (each step prefix is a stream): `encode_many` is then
    #: one pass, and the runner shares its time among the points instead of timing each encode
    progressive: ClassVar[bool] = False
    # Largest W x H a header may declare; a limit on what is decoded, not part of the bitstream
    # (so not in config()). The runner sets it from the run config `max_pixels`.
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __init__(self, ops: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None) -> None:
        self._ops = expand_operating_points(ops, self.all_knobs(), self.name)

    # --- configuration -------------------------------------------------------------
    def all_knobs(self) -> tuple[Knob, ...]:
        """Knobs in header order; wrappers (e.g. resample) prepend their own."""
        return self.knobs

    def knob(self, name: str) -> Knob:
        for k in self.all_knobs():
            if k.name == name:
                return k
        raise ConfigError(f"codec {self.name!r} has no knob {name!r}")

    def operating_points(self) -> list[OperatingPoint]:
        return list(self._ops)

    def validate(self, op: OperatingPoint) -> OperatingPoint:
        return expand_operating_points([op], self.all_knobs(), self.name)[0]

    def config(self) -> dict[str, Any]:
        """Everything that changes the bitstream besides the op: hashed into the results."""
        return {"name": self.name, "codec_id": self.codec_id}

    def requirements(self) -> str:
        """Raise CodecError naming what is missing (binary, weights); '' when ready."""
        return ""

    def compute(self) -> tuple[str, str]:
        """(device class, dtype) this codec computes in, recorded in every row; integer codecs run on the CPU."""
        return "cpu", "n/a"

    # --- the contract --------------------------------------------------------------
    def encode(self, image: np.ndarray, op: OperatingPoint) -> bytes:
        image = as_rgb8(image, f"codec {self.name!r}")
        op = self.validate(op)
        height, width = image.shape[:2]
        if height * width > self.max_pixels:
            raise CodecError(f"codec {self.name!r}: image {width}x{height} exceeds max_pixels={self.max_pixels} "
                             f"(a decoder would refuse its stream); raise max_pixels to code it")
        return self.header_for(width, height, op).pack() + self.encode_payload(image, op)

    def header_for(self, width: int, height: int, op: OperatingPoint) -> Header:
        """The header `encode` writes for an image of this size at `op` (payload checks may cover it)."""
        return Header(self.codec_id, width, height, self.header_fields(op))

    def header_fields(self, op: OperatingPoint) -> tuple[int, ...]:
        """The header's operating-point fields: one per knob; a codec may fold in what else must travel."""
        return tuple(k.to_field(op[k.name]) for k in self.all_knobs())

    def n_header_fields(self) -> int:
        return len(self.all_knobs())

    def op_from_fields(self, fields: tuple[int, ...]) -> OperatingPoint:
        """The inverse of `header_fields` (decoder side): raise BitstreamError if the fields are not ours."""
        return {k.name: k.from_field(f) for k, f in zip(self.all_knobs(), fields)}

    def encode_many(self, image: np.ndarray, ops: Iterable[OperatingPoint]) -> list[bytes]:
        """Encode at several operating points; codecs whose one pass yields all rates override."""
        return [self.encode(image, op) for op in ops]

    def parse_header(self, stream: bytes) -> tuple[Header, OperatingPoint, int]:
        """Header, operating point and header size; the op is checked against the knobs' ranges."""
        try:
            header, size = Header.unpack(stream, self.n_header_fields())
        except BitstreamError as exc:
            raise exc.named(self.name, "header") from exc
        if header.codec_id != self.codec_id:
            raise BitstreamError(f"(id {self.codec_id}) was given a bitstream of codec id {header.codec_id}",
                                 self.name, "header")
        op = self.op_from_fields(header.op_fields)
        try:
            op = self.validate(op)
        except ConfigError as exc:
            raise BitstreamError(f"operating point out of range ({exc})", self.name, "header") from exc
        return header, op, size

    def decode(self, stream: bytes) -> np.ndarray:
        header, op, size = self.parse_header(stream)
        if header.width * header.height > self.max_pixels:
            raise BitstreamError(f"image size {header.width}x{header.height} exceeds max_pixels={self.max_pixels} "
                                 f"(corrupt header, or raise max_pixels)", self.name, "header")
        try:
            image = self.decode_payload(stream[size:], header, op)
        except BitstreamError as exc:
            raise exc.named(self.name, "payload") from exc
        except CodecError:
            raise
        except Exception as exc:  # library errors on corrupt data become codec errors
            raise BitstreamError(f"cannot decode bitstream ({type(exc).__name__}: {exc})", self.name,
                                 "payload") from exc
        if image.dtype != np.uint8 or image.shape != (header.height, header.width, 3):
            raise BitstreamError(f"decoded {image.dtype} {image.shape}, header says {header.height}x{header.width}x3 "
                                 f"uint8 (corrupt bitstream?)", self.name, "payload")
        return image

    def sections(self, stream: bytes) -> dict[str, int]:
        """Byte count per part of the stream (header, payload, side info...), decoder-side."""
        _, _, size = self.parse_header(stream)
        return {"header": size, "payload": len(stream) - size}

    @abstractmethod
    def encode_payload(self, image: np.ndarray, op: OperatingPoint) -> bytes:
        """Compress an 8-bit RGB image at `op`; the header is written by `encode`."""

    @abstractmethod
    def decode_payload(self, payload: bytes, header: Header, op: OperatingPoint) -> np.ndarray:
        """Reconstruct the HxWx3 uint8 image from the payload alone (plus header fields)."""
