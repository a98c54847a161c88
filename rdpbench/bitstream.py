"""The rdpbench container header that starts every bitstream.

At 0.003 bpp a Kodak image has ~147 bytes in total, so the header must be tiny:
one format/version byte, then LEB128 varints for codec id, width, height and the
operating-point fields. It is counted in bpp and also reported on its own.

LEB128 is written by hand here: it is ten lines, and no maintained package offers
a plain varint codec without pulling in protobuf.

The header's image size is what decoders allocate from, so it is checked against a
pixel ceiling (`DEFAULT_MAX_PIXELS`, per codec `Codec.max_pixels`, run config `max_pixels`)
before any decoder runs. `check_value` is the optional short CRC a codec appends to its
stream (counted in bpp) so that a corrupted stream is an error, not a plausible image.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from rdpbench.errors import BitstreamError, ConfigError

FORMAT_ID = 0xB  # high nibble of byte 0
FORMAT_VERSION = 1  # low nibble of byte 0
MAX_DIMENSION = 1 << 20
# 16384 x 16384: four times an 8K x 8K image; a header above it is refused before decoding.
DEFAULT_MAX_PIXELS = 1 << 28
MAX_CHECK_BYTES = 4


def checked_check_bytes(n_bytes: int, codec: str) -> int:
    """A codec's configured `check_bytes`, refused by name unless 0..MAX_CHECK_BYTES."""
    if not 0 <= n_bytes <= MAX_CHECK_BYTES:
        raise ConfigError(f"codec {codec!r}: check_bytes={n_bytes} not in 0..{MAX_CHECK_BYTES}")
    return int(n_bytes)


def check_value(data: bytes, n_bytes: int) -> bytes:
    """The low `n_bytes` bytes of CRC-32 (zlib) over `data`: 1 byte misses 1/256 of random corruptions, 2 bytes 1/65536."""
    return (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "little")[:n_bytes]


def split_check(stream: bytes, n_bytes: int, codec: str) -> bytes:
    """`stream` without its trailing check bytes; BitstreamError (section 'check') when they do not match."""
    if n_bytes == 0:
        return stream
    if len(stream) < n_bytes:
        raise BitstreamError(f"{len(stream)} bytes cannot hold the {n_bytes}-byte check", codec, "check")
    body, check = stream[:-n_bytes], stream[-n_bytes:]
    if check_value(body, n_bytes) != check:
        raise BitstreamError("checksum mismatch: the bitstream is corrupt or truncated", codec, "check")
    return body


def write_varint(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"varint must be non-negative, got {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(data: bytes, pos: int, section: str = "header") -> tuple[int, int]:
    """Return (value, next position); raise BitstreamError on truncation."""
    value = shift = 0
    while True:
        if pos >= len(data):
            raise BitstreamError("bitstream truncated inside a varint", section=section)
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise BitstreamError("bitstream corrupt: varint longer than 64 bits", section=section)


@dataclass(frozen=True)
class Header:
    codec_id: int
    width: int
    height: int
    op_fields: tuple[int, ...]

    def pack(self) -> bytes:
        parts = [bytes([(FORMAT_ID << 4) | FORMAT_VERSION]), write_varint(self.codec_id),
                 write_varint(self.width), write_varint(self.height)]
        parts += [write_varint(v) for v in self.op_fields]
        return b"".join(parts)

    @classmethod
    def unpack(cls, data: bytes, n_op_fields: int) -> tuple["Header", int]:
        """Parse a header with n_op_fields operating-point varints; return it and its size."""
        if not data:
            raise BitstreamError("empty bitstream", section="header")
        if data[0] >> 4 != FORMAT_ID:
            raise BitstreamError(f"not an rdpbench bitstream (first byte 0x{data[0]:02x})", section="header")
        if data[0] & 0xF != FORMAT_VERSION:
            raise BitstreamError(f"unsupported rdpbench format version {data[0] & 0xF}", section="header")
        pos = 1
        values = []
        for _ in range(3 + n_op_fields):
            value, pos = read_varint(data, pos)
            values.append(value)
        codec_id, width, height, *ops = values
        if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
            raise BitstreamError(f"bitstream corrupt: image size {width}x{height}", section="header")
        return cls(codec_id, width, height, tuple(ops)), pos
