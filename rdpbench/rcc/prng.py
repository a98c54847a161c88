"""Shared, addressable randomness for reverse channel coding.

Encoder and decoder must draw the *same* candidate j without the decoder
generating the j-1 candidates before it. numpy's Philox is counter-based: a
(key, counter) pair fixes its output, so we give each chunk its own key, derived
from (seed, tile, step, chunk) with SeedSequence, and let the second counter word
address a block of `block` candidates. Inside a block the candidates are rows of
one `standard_normal((block, dim), float32)` draw (numpy's ziggurat, ~4x faster
than transforming raw Philox words ourselves). The decoder regenerates only the
chosen candidate's block: `block * dim` normals, bounded by BLOCK_ELEMENTS.

Everything the decoder needs here is a pure function of integers, so streams are
reproducible across runs and processes (contract rule 2).
"""

from __future__ import annotations

import numpy as np

# Domain tags keep the candidate, permutation, private and ancestral streams disjoint.
CANDIDATES, PERMUTATION, PRIVATE, SHARED_NOISE = 0xCA17D, 0x9E73, 0x9417, 0x5EED
BLOCK_ELEMENTS = 1 << 14  # normals per PRNG block: small enough to regenerate, large enough to vectorise


def seed_words(tag: int, *words: int) -> list[int]:
    for w in words:
        if int(w) < 0:
            raise ValueError(f"PRNG key words must be non-negative, got {words}")
    return [tag, *(int(w) for w in words)]


def generator(tag: int, *words: int) -> np.random.Generator:
    """A Philox generator keyed by (tag, *words): the shared or private streams."""
    return np.random.Generator(np.random.Philox(np.random.SeedSequence(seed_words(tag, *words))))


def chunk_key(*words: int) -> np.ndarray:
    """128-bit Philox key of one chunk's candidate stream (words = seed, tile, step, chunk)."""
    return np.random.SeedSequence(seed_words(CANDIDATES, *words)).generate_state(2, np.uint64)


def block_size(dim: int, n_candidates: int, elements: int = BLOCK_ELEMENTS) -> int:
    """Candidates per block of at most `elements` normals: a power of two so blocks tile [0, K) exactly."""
    target = max(1, elements // max(dim, 1))
    return int(min(n_candidates, 1 << (target.bit_length() - 1)))


class CandidateStream:
    """One chunk's candidates: block b holds candidates [b*block, (b+1)*block) as a (block, dim) matrix.

    Jumping between blocks rewrites the Philox state (key, counter = [0, b, 0, 0]) instead of
    building a generator per block: same numbers, 4x less per-block overhead.
    """

    def __init__(self, key: np.ndarray, block: int, dim: int) -> None:
        self.key, self.block, self.dim = key, block, dim
        self._bits = np.random.Philox(key=key)
        self._rng = np.random.Generator(self._bits)

    def draw(self, block_index: int) -> np.ndarray:
        self._bits.state = {"bit_generator": "Philox",
                            "state": {"counter": np.array([0, block_index, 0, 0], dtype=np.uint64), "key": self.key},
                            "buffer": np.zeros(4, dtype=np.uint64), "buffer_pos": 4, "has_uint32": 0, "uinteger": 0}
        return self._rng.standard_normal((self.block, self.dim), dtype=np.float32)


def candidate_block(key: np.ndarray, block: int, block_index: int, dim: int) -> np.ndarray:
    """Candidates [block_index*block, (block_index+1)*block) as a (block, dim) float32 matrix."""
    return CandidateStream(key, block, dim).draw(block_index)


def candidate(key: np.ndarray, block: int, index: int, dim: int) -> np.ndarray:
    """Candidate `index` alone (decoder side): regenerates only its block."""
    return candidate_block(key, block, index // block, dim)[index % block]
