"""Send a sample of N(m, I) with the shared proposal N(0, I): chunked ordered random coding.

This is the Poisson functional representation (Li & El Gamal 2018) truncated to a
fixed candidate count, as DiffC uses it. No maintained Python package implements
it (it is ~60 lines on top of numpy and constriction), hence hand-written.

A sample whose KL is far above ~16 bits cannot be sent with one candidate list
(K = 2^KL candidates), so the dimensions are split among chunks by a shared
permutation; each chunk gets about `chunk_kl_bits` of KL and K = 2^(KL_c + slack)
candidates. The encoder picks j* = argmax_j (m_c . z_j - log T_j) with T_j the
arrival times of a private Poisson process; the decoder regenerates z_{j*} from
the shared counter-based PRNG (rdpbench.rcc.prng).

The plan depends only on the KL the *decoder* knows (the quantised value that
travels as side information), never on the exact one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rdpbench.errors import ConfigError
from rdpbench.rcc import prng
from rdpbench.rcc.kl_quant import dequantise_kl


@dataclass(frozen=True)
class RCCSettings:
    """Knobs of the chunking. DiffC uses ~14 bits of KL per chunk, 2 slack bits, at most 16 bits."""

    chunk_kl_bits: float = 12.0
    slack_bits: float = 2.0
    max_bits: int = 16

    def __post_init__(self) -> None:
        if not 0 < self.chunk_kl_bits <= self.max_bits - self.slack_bits:
            raise ConfigError(f"rcc: chunk_kl_bits={self.chunk_kl_bits} must be in (0, max_bits - slack_bits = "
                              f"{self.max_bits - self.slack_bits}]")
        if not 1 <= self.max_bits <= 24:
            raise ConfigError(f"rcc: max_bits={self.max_bits} must be in [1, 24] (2^max_bits candidates)")


@dataclass(frozen=True)
class ChunkPlan:
    """How one sample is split: n_chunks chunks of kl_chunk bits each, 2^bits candidates per chunk."""

    n_chunks: int
    bits: int
    kl_chunk: float

    @property
    def n_candidates(self) -> int:
        return 1 << self.bits

    @property
    def zipf_exponent(self) -> float:
        """s = 1 + 1/(KL_c + e^-1 ln(e+1)): the index prior of Li & El Gamal's bound (KL in bits)."""
        return 1.0 + 1.0 / (self.kl_chunk + math.log(math.e + 1.0) / math.e)

    @classmethod
    def for_kl(cls, kl_bits: float, dim: int, settings: RCCSettings) -> "ChunkPlan":
        if kl_bits <= 0:
            return cls(1, 0, 0.0)
        n_chunks = min(dim, max(1, math.ceil(kl_bits / settings.chunk_kl_bits)))
        kl_chunk = kl_bits / n_chunks
        bits = min(settings.max_bits, math.ceil(kl_chunk + settings.slack_bits))
        return cls(n_chunks, bits, kl_chunk)

    @classmethod
    def for_code(cls, kl_code: int, levels: int, dim: int, settings: RCCSettings) -> "ChunkPlan":
        """The plan both sides derive from the transmitted (quantised) KL, never from the exact one."""
        return cls.for_kl(dequantise_kl(kl_code, levels), dim, settings)


def chunk_dimensions(plan: ChunkPlan, dim: int, words: tuple[int, ...]) -> list[np.ndarray]:
    """Split range(dim) among the chunks by a permutation seeded by (seed, tile, step)."""
    if plan.n_chunks == 1:
        return [np.arange(dim)]
    return np.array_split(prng.generator(prng.PERMUTATION, *words).permutation(dim), plan.n_chunks)


def _search(m_c: np.ndarray, key: np.ndarray, plan: ChunkPlan, private: np.random.Generator) -> tuple[int, np.ndarray]:
    """argmax_j (m_c . z_j - log T_j) over 2^bits candidates, one PRNG block (a matrix) at a time."""
    dim = m_c.shape[0]
    block = prng.block_size(dim, plan.n_candidates)
    best_index, best_score, best_row = 0, -np.inf, None
    arrival = 0.0
    stream = prng.CandidateStream(key, block, dim)
    for b in range(plan.n_candidates // block):
        z = stream.draw(b)
        times = arrival + np.cumsum(private.exponential(size=block))
        arrival = float(times[-1])
        # einsum, not `z @ m_c`: a threaded BLAS matvec this small is ~4x slower on a busy machine,
        # and einsum's single-threaded loop makes the choice independent of the BLAS build
        score = np.einsum("ij,j->i", z, m_c) - np.log(times)
        i = int(np.argmax(score))
        if score[i] > best_score:
            best_index, best_score, best_row = b * block + i, float(score[i]), z[i].copy()
    return best_index, best_row


def encode_sample(m: np.ndarray, plan: ChunkPlan, words: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Return (chosen index per chunk, the sample u ~ approx N(m, I) as float32).

    `words` = (seed, tile, step) keys every shared stream; the arrival times come from a
    private stream under another domain tag (deterministic so bitstreams are reproducible,
    but never read by the decoder).
    """
    m = np.asarray(m, dtype=np.float32).reshape(-1)
    u = np.empty(m.shape[0], dtype=np.float32)
    indices = np.zeros(plan.n_chunks, dtype=np.int64)
    for c, dims in enumerate(chunk_dimensions(plan, m.shape[0], words)):
        key = prng.chunk_key(*words, c)
        if plan.bits == 0:
            u[dims] = prng.candidate(key, 1, 0, dims.shape[0])
            continue
        private = prng.generator(prng.PRIVATE, *words, c)
        indices[c], u[dims] = _search(m[dims], key, plan, private)
    return indices, u


def decode_sample(indices: np.ndarray, plan: ChunkPlan, words: tuple[int, ...], dim: int) -> np.ndarray:
    """Regenerate u from the chosen indices alone (the decoder's side of encode_sample)."""
    u = np.empty(dim, dtype=np.float32)
    for c, dims in enumerate(chunk_dimensions(plan, dim, words)):
        block = prng.block_size(dims.shape[0], plan.n_candidates)
        u[dims] = prng.candidate(prng.chunk_key(*words, c), block, int(indices[c]), dims.shape[0])
    return u
