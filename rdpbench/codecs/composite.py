"""A registered codec's stream inside another codec's: the explicit part of composite codecs.

Section layout: varint codec id | varint payload length | the inner codec's payload. As with
`resample`, one rdpbench header covers both layers: the inner image size is the outer one and
the inner operating point's knobs are knobs of the outer codec, so the inner header is rebuilt
on decode instead of being sent again (7-8 bytes saved, which is 5-20 % of a stream at
0.003 bpp). The id byte is what lets a decoder configured with another base refuse the stream
and name the codec that made it (the registry's id lookup), instead of decoding garbage.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from rdpbench.bitstream import Header, read_varint, write_varint
from rdpbench.codecs.base import Codec, Knob, OperatingPoint
from rdpbench.codecs.registry import codec_class_by_id
from rdpbench.errors import BitstreamError, ConfigError


def joined_knobs(owner: str, *groups: Sequence[Knob]) -> tuple[Knob, ...]:
    """Knobs of several layers in header order; a name used by two layers is refused."""
    knobs = tuple(k for group in groups for k in group)
    names = [k.name for k in knobs]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise ConfigError(f"codec {owner!r}: knob name(s) {clash} used by two layers; rename one of them")
    return knobs


class SubStream:
    """Writes and reads one inner codec's payload as a section of an outer stream."""

    def __init__(self, codec: Codec, section: str, owner: str) -> None:
        self.codec, self.section, self.owner = codec, section, owner

    @property
    def knobs(self) -> tuple[Knob, ...]:
        return self.codec.all_knobs()

    def op(self, op: OperatingPoint) -> OperatingPoint:
        """The inner codec's operating point inside the outer one."""
        return {k.name: op[k.name] for k in self.knobs}

    def write(self, image: np.ndarray, op: OperatingPoint) -> bytes:
        stream = self.codec.encode(image, self.op(op))
        _, _, size = self.codec.parse_header(stream)
        payload = stream[size:]
        return write_varint(self.codec.codec_id) + write_varint(len(payload)) + payload

    def size(self, data: bytes) -> int:
        """Bytes of the section at the start of `data` (parsing only); a foreign codec id is refused."""
        codec_id, pos = self._varint(data, 0, "codec id")
        if codec_id != self.codec.codec_id:
            try:
                made_by = f"codec {codec_class_by_id(codec_id).name!r} (id {codec_id})"
            except ConfigError:
                made_by = f"an unknown codec id {codec_id} (corrupt stream?)"
            raise BitstreamError(f"codec {self.owner!r}, section {self.section!r}: holds a stream of {made_by}, but "
                                 f"this decoder's {self.section} codec is {self.codec.name!r} (id "
                                 f"{self.codec.codec_id}); decode with the config that encoded it")
        length, pos = self._varint(data, pos, "length")
        if pos + length > len(data):
            raise BitstreamError(f"codec {self.owner!r}, section {self.section!r}: {length} bytes declared, "
                                 f"{len(data) - pos} left (truncated stream)")
        return pos + length

    def decode(self, data: bytes, header: Header, op: OperatingPoint) -> np.ndarray:
        """The inner reconstruction from the section's bytes (`data` = exactly the section)."""
        _, pos = self._varint(data, 0, "codec id")
        _, pos = self._varint(data, pos, "length")
        inner = self.codec.header_for(header.width, header.height, self.op(op))
        try:
            return self.codec.decode(inner.pack() + data[pos:])
        except BitstreamError as exc:
            raise BitstreamError(f"codec {self.owner!r}, section {self.section!r}: {exc}") from exc

    def _varint(self, data: bytes, pos: int, what: str) -> tuple[int, int]:
        try:
            return read_varint(data, pos)
        except BitstreamError as exc:
            raise BitstreamError(f"codec {self.owner!r}, section {self.section!r}: cannot read its {what} "
                                 f"({exc})") from exc
