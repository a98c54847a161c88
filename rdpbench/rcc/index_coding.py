"""Entropy-code the chosen candidate indices (and the KL side information) with constriction.

Index j of a chunk is coded under the truncated Zipf prior P(j) ∝ (j+1)^-s over the
chunk's 2^bits candidates (ChunkPlan.zipf_exponent). The per-step KL codes go first,
in the same range coder, as per-tile deltas under a fixed quantised Laplace (KL
grows by a roughly constant factor per step, so deltas cluster): ~4-6 bits a step
instead of a 1-2 byte varint, which matters at ~150-byte streams. The coder's
32-bit words are written big-endian with trailing zero bytes dropped (the decoder
pads them back; `finish` verifies the trimmed stream still decodes).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Iterable, Sequence

import constriction
import numpy as np

from rdpbench.errors import BitstreamError
from rdpbench.rcc.chunked import ChunkPlan
from rdpbench.rcc.kl_quant import MAX_LOG2_BITS

Encoder = constriction.stream.queue.RangeEncoder
Decoder = constriction.stream.queue.RangeDecoder


@lru_cache(maxsize=256)
def zipf_model(bits: int, exponent: float):
    probabilities = (np.arange(1 << bits, dtype=np.float64) + 1.0) ** -exponent
    return constriction.stream.model.Categorical(probabilities / probabilities.sum(), perfect=False)


@lru_cache(maxsize=16)
def _delta_model(levels: int):
    """Deltas of KL codes within a tile: mean +1/2 octave, scale 1/2 octave (fixed, nothing to send)."""
    span = MAX_LOG2_BITS * levels
    return constriction.stream.model.QuantizedLaplace(-span, span + 1, 0.5 * levels, 0.5 * levels)


def kl_code_bits(codes: Sequence[Sequence[int]], levels: int) -> float:
    """Information content of the KL codes under their Laplace model: how `sections` attributes the
    shared range-coded bytes to side info (the coder spends this to within a fraction of a bit)."""
    from scipy.stats import laplace

    if not any(len(c) for c in codes):
        return 0.0
    deltas = np.concatenate([np.diff(np.asarray(c, dtype=np.float64), prepend=0) for c in codes])
    dist = laplace(loc=0.5 * levels, scale=0.5 * levels)
    return float(-np.log2(dist.cdf(deltas + 0.5) - dist.cdf(deltas - 0.5)).sum())


def write_kl_codes(encoder: Encoder, codes: Sequence[Sequence[int]], levels: int) -> None:
    for tile_codes in codes:
        if len(tile_codes):
            encoder.encode(np.diff(np.asarray(tile_codes), prepend=0).astype(np.int32), _delta_model(levels))


def read_kl_codes(decoder: Decoder, tiles: int, steps: int, levels: int) -> list[list[int]]:
    out = []
    for _ in range(tiles):
        deltas = decoder.decode(_delta_model(levels), steps) if steps else np.zeros(0, np.int32)
        out.append([int(v) for v in np.cumsum(deltas)])
    return out


def write_indices(encoder: Encoder, groups: Iterable[tuple[ChunkPlan, np.ndarray]]) -> None:
    for plan, indices in groups:
        if plan.bits:
            encoder.encode(np.asarray(indices, dtype=np.int32), zipf_model(plan.bits, plan.zipf_exponent))


def read_indices(decoder: Decoder, plans: Sequence[ChunkPlan]) -> list[list[int]]:
    return [[int(i) for i in decoder.decode(zipf_model(p.bits, p.zipf_exponent), p.n_chunks)] if p.bits
            else [0] * p.n_chunks for p in plans]


def finish(encoder: Encoder, decodes_back: Callable[[bytes], bool]) -> bytes:
    words = encoder.get_compressed()
    data = words.astype(">u4").tobytes().rstrip(b"\0")
    return data if decodes_back(data) else words.astype(">u4").tobytes()


def reader(data: bytes) -> Decoder:
    padded = data + b"\0" * (-len(data) % 4)
    return Decoder(np.frombuffer(padded, dtype=">u4").astype(np.uint32))


def guarded(fn: Callable, *args):
    """Run a read_* call; constriction's errors on impossible input become BitstreamError."""
    try:
        return fn(*args)
    except (ValueError, RuntimeError, AssertionError, OverflowError) as exc:
        raise BitstreamError(f"rcc: range-coded data cannot be decoded ({exc})") from exc


def encode_indices(groups: Iterable[tuple[ChunkPlan, np.ndarray]]) -> bytes:
    """Indices alone in one stream (tests, benchmarks)."""
    groups = list(groups)
    encoder = Encoder()
    write_indices(encoder, groups)
    expected = [list(map(int, i)) for _, i in groups]
    return finish(encoder, lambda data: decode_indices(data, [p for p, _ in groups]) == expected)


def decode_indices(data: bytes, plans: Sequence[ChunkPlan]) -> list[list[int]]:
    return guarded(read_indices, reader(data), plans)
