"""The RCC container: what any reverse-channel-coded stream carries, prefix-decodable and checked.

Layout (after whatever the owning codec writes before it: its header, explicit sections):
  side   for each tile, the k quantised step KLs (the chunking the decoder needs), as deltas
  rcc    every chunk's candidate index (tile-major, step order)
  check  the low `check_bytes` bytes of CRC-32 over everything before it (header included)
`side` and `rcc` share one range coder; `sections` attributes to "side" the information content
of the KL codes under their model (rounded up to whole bytes) and the rest to "rcc". The CRC is
what turns a truncated or corrupted stream into a BitstreamError: a range decoder reads garbage
silently, and at ~150-byte streams one byte is the cheapest honest guard.

Prefix-decodable: a stream of k steps holds the first k records of each tile, so one encode of
K steps yields every k <= K. Nothing here knows what the samples mean (diffusion or otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from rdpbench.bitstream import check_value, checked_check_bytes, split_check
from rdpbench.errors import BitstreamError
from rdpbench.rcc.chunked import ChunkPlan, RCCSettings
from rdpbench.rcc.index_coding import (Encoder, finish, guarded, kl_code_bits, read_indices, read_kl_codes, reader,
                                       write_indices, write_kl_codes)

SECTIONS = ("side", "rcc", "check")


@dataclass(frozen=True)
class TileSteps:
    """One tile's transmitted records, step by step: quantised KL codes and chosen indices per chunk."""

    kl_codes: tuple[int, ...]
    indices: tuple[np.ndarray, ...]

    def prefix(self, steps: int) -> "TileSteps":
        return TileSteps(self.kl_codes[:steps], self.indices[:steps])


@dataclass(frozen=True)
class RCCPayload:
    """What the decoder reads back: per-tile records and the byte count of each section."""

    tiles: list[TileSteps]
    sections: dict[str, int]


class RCCContainer:
    """Writes and reads the side | rcc | check sections for tiles of known dimension."""

    def __init__(self, settings: RCCSettings, kl_levels: int, check_bytes: int, codec: str) -> None:
        self.settings, self.kl_levels, self.codec = settings, kl_levels, codec
        self.check_bytes = checked_check_bytes(check_bytes, codec)

    def plan(self, kl_code: int, dim: int) -> ChunkPlan:
        """The chunk plan both sides derive from the transmitted (quantised) KL."""
        return ChunkPlan.for_code(kl_code, self.kl_levels, dim, self.settings)

    def pack(self, covered: bytes, tiles: Sequence[TileSteps], dims: Sequence[int]) -> bytes:
        """side + rcc + check; `covered` (header and earlier sections) enters the CRC, not the output."""
        codes = [list(t.kl_codes) for t in tiles]
        indices = [[list(map(int, i)) for i in t.indices] for t in tiles]
        steps = len(codes[0]) if codes else 0
        encoder = Encoder()
        write_kl_codes(encoder, codes, self.kl_levels)
        write_indices(encoder, [(self.plan(c, dim), np.asarray(i))
                                for tile_codes, tile_idx, dim in zip(codes, indices, dims)
                                for c, i in zip(tile_codes, tile_idx)])

        def decodes_back(data: bytes) -> bool:
            back = self._read_body(data, steps, dims)
            return [list(t.kl_codes) for t in back] == codes and \
                [[list(map(int, i)) for i in t.indices] for t in back] == indices

        body = finish(encoder, decodes_back)
        return body + check_value(covered + body, self.check_bytes)

    def verified(self, stream: bytes) -> bytes:
        """`stream` without its checksum, once the CRC over everything before it matches."""
        return split_check(stream, self.check_bytes, self.codec)

    def read(self, body: bytes, steps: int, dims: Sequence[int]) -> RCCPayload:
        """`steps` records per tile from the side + rcc bytes (checksum already verified and removed)."""
        tiles = self._read_body(body, steps, dims)
        side = min(len(body), -(-int(np.ceil(kl_code_bits([t.kl_codes for t in tiles], self.kl_levels))) // 8))
        return RCCPayload(tiles, {"side": side, "rcc": len(body) - side, "check": self.check_bytes})

    def _read_body(self, body: bytes, steps: int, dims: Sequence[int]) -> list[TileSteps]:
        decoder = reader(body)
        codes = self._guarded("side", read_kl_codes, decoder, len(dims), steps, self.kl_levels)
        plans = [self._guarded("side", self.plan, c, dim) for tile_codes, dim in zip(codes, dims) for c in tile_codes]
        flat = self._guarded("rcc", read_indices, decoder, plans)
        return [TileSteps(tuple(codes[t]), tuple(np.asarray(i) for i in flat[t * steps:(t + 1) * steps]))
                for t in range(len(dims))]

    def _guarded(self, section: str, fn, *args):
        try:
            return guarded(fn, *args)
        except BitstreamError as exc:
            raise BitstreamError(f"codec {self.codec!r}, section {section!r}: {exc}") from exc
