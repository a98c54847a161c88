"""The torch RCC backend: candidates drawn and scored on the run's device, in bounded blocks.

The search is the numpy backend's (rdpbench.rcc.chunked: the same chunk plan, chunk split and
score argmax_j (m_c . z_j - log T_j)); only the generator and where it runs differ, so its
streams are its own (`torch-cpu` / `torch-cuda`, a code in the stream, see backends.py).

- CPU: torch's CPU normal kernel is ~3x numpy's ziggurat-on-Philox. Candidates come in
  generator blocks of `block` candidates (block x dim <= BLOCK_ELEMENTS normals), block b of a
  chunk drawn by an mt19937 generator seeded from (chunk key, b): the decoder regenerates only
  the chosen candidate's block. Several blocks are scored in one matrix-vector product
  (<= GROUP_ELEMENTS normals held). torch seeds mt19937 with 32 bits, so two blocks of different
  chunks collide with probability ~2^-32 per pair: harmless (each chunk's candidates stay
  distinct and i.i.d.; the decoder never confuses them, it regenerates by index).
- CUDA: one Triton kernel per group of chunks draws every candidate from counter-based Philox
  (counter = candidate x dim position, key = the chunk's 64-bit key) and reduces it against m_c in
  registers, never writing candidates to memory; the decoder regenerates the chosen candidate
  alone (rdpbench.rcc.philox_kernels). Scores are held for <= SCORE_ELEMENTS candidates at a time.

Same seed, device class and dtype give the same indices run to run; the encoder's sample is the
decoder's regeneration, so both trajectories agree bit for bit on one device class. (torch's CPU
normal kernel is vectorised per CPU capability, so a CPU of another instruction set may regenerate
a candidate differing in its last bits: the decoded image then drifts by rounding, it is not refused.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rdpbench.device import single_thread, torch_device
from rdpbench.errors import ConfigError
from rdpbench.rcc import prng
from rdpbench.rcc.backends import RCCBackend
from rdpbench.rcc.chunked import ChunkPlan, chunk_dimensions

BLOCK_ELEMENTS = 1 << 16  # normals per CPU generator block: what the decoder regenerates per chunk
GROUP_ELEMENTS = 1 << 18  # normals scored per matrix-vector product on the CPU (1 MiB)
SCORE_ELEMENTS = 1 << 24  # candidate scores held at once on CUDA (chunks x candidates)
MASK64 = (1 << 64) - 1


def _mix64(value: int) -> int:
    """splitmix64's finaliser: decorrelates consecutive block numbers before they seed mt19937."""
    value = (value + 0x9E3779B97F4A7C15) & MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK64
    return value ^ (value >> 31)


def block_seed(key: np.ndarray, block_index: int) -> int:
    return _mix64(int(key[0]) ^ _mix64(int(key[1]) + block_index))


def chunk_keys(tag: int, words: tuple[int, ...], n_chunks: int) -> np.ndarray:
    """(n_chunks, 2) uint64 keys of one sample's chunks from one SeedSequence (a few microseconds for
    hundreds of chunks, where a SeedSequence per chunk costs ~20 us each): `tag` CANDIDATES for the
    shared candidates, PRIVATE for the encoder's arrival times (never read by the decoder)."""
    return np.random.SeedSequence(prng.seed_words(tag, *words)).generate_state(2 * n_chunks, np.uint64).reshape(-1, 2)


class TorchRCC(RCCBackend):
    """Candidates on `device` ('cpu' or 'cuda', the run's)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = torch_device(device, "rcc backend 'torch'")
        if self.device.type not in ("cpu", "cuda"):
            raise ConfigError(f"rcc backend 'torch': runs on cpu or cuda, not {self.device.type}; "
                              f"use rcc_backend=numpy there")
        self.name = f"torch-{self.device.type}"

    @property
    def device_class(self) -> str:
        return self.device.type

    def requirements(self) -> str:
        if self.device.type == "cuda":
            try:
                import triton  # noqa: F401
            except ImportError as exc:
                raise ConfigError(f"rcc backend 'torch' on CUDA needs Triton (it ships with torch's CUDA wheels) "
                                  f"({exc}); or set codec.rcc_backend=numpy") from exc
        return ""

    # --- encoder -----------------------------------------------------------------------
    def encode_sample(self, m: np.ndarray, plan: ChunkPlan, words: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        m = np.asarray(m, dtype=np.float32).reshape(-1)
        chunks = chunk_dimensions(plan, m.shape[0], words)
        indices = np.zeros(plan.n_chunks, dtype=np.int64)
        if plan.bits == 0:  # one candidate: nothing to choose
            return indices, self.decode_sample(indices, plan, words, m.shape[0])
        keys, private = chunk_keys(prng.CANDIDATES, words, len(chunks)), chunk_keys(prng.PRIVATE, words, len(chunks))
        if self.device.type == "cuda":
            from rdpbench.rcc.philox_kernels import search

            indices = search(m, chunks, plan.n_candidates, keys[:, 0], private[:, 0], self.device, SCORE_ELEMENTS)
        else:
            with single_thread():  # small matrix-vector products: one thread beats OpenMP barriers on a busy machine
                for c, dims in enumerate(chunks):
                    indices[c] = self._search_cpu(m[dims], keys[c], plan, int(private[c, 0]))
        return indices, self.decode_sample(indices, plan, words, m.shape[0])

    def _search_cpu(self, m_c: np.ndarray, key: np.ndarray, plan: ChunkPlan, private: int) -> int:
        """argmax_j (m_c . z_j - log T_j) over the chunk's candidates, GROUP_ELEMENTS normals at a time."""
        import torch

        dim = m_c.shape[0]
        block = prng.block_size(dim, plan.n_candidates, BLOCK_ELEMENTS)
        n_blocks = plan.n_candidates // block
        group = max(1, min(n_blocks, GROUP_ELEMENTS // (block * dim)))
        mean = torch.from_numpy(m_c)
        buffer = torch.empty(group, block, dim)
        generator, arrivals = torch.Generator(), torch.Generator().manual_seed(private)
        best_index, best_score, arrival = 0, -np.inf, 0.0
        for first in range(0, n_blocks, group):
            count = min(group, n_blocks - first)
            for i in range(count):
                self._fill(buffer[i], generator, key, first + i)
            scores = buffer[:count].view(count * block, dim) @ mean
            times = arrival + torch.cumsum(torch.empty(count * block, dtype=torch.float64).exponential_(
                generator=arrivals), 0)
            arrival = float(times[-1])
            total = scores.double() - torch.log(times)
            i = int(torch.argmax(total))
            if float(total[i]) > best_score:
                best_index, best_score = first * block + i, float(total[i])
        return best_index

    @staticmethod
    def _fill(out: Any, generator: Any, key: np.ndarray, block_index: int) -> None:
        """Candidates of generator block `block_index` into `out` (block x dim): both sides call this."""
        generator.manual_seed(block_seed(key, block_index))
        out.normal_(generator=generator)

    # --- decoder -----------------------------------------------------------------------
    def decode_sample(self, indices: np.ndarray, plan: ChunkPlan, words: tuple[int, ...], dim: int) -> np.ndarray:
        import torch

        chunks = chunk_dimensions(plan, dim, words)
        keys = chunk_keys(prng.CANDIDATES, words, len(chunks))
        u = np.empty(dim, dtype=np.float32)
        if self.device.type == "cuda":
            from rdpbench.rcc.philox_kernels import candidates

            rows = candidates(keys[:, 0], [d.shape[0] for d in chunks], np.asarray(indices, dtype=np.int64),
                              self.device)
            for c, dims in enumerate(chunks):
                u[dims] = rows[c, :dims.shape[0]]
            return u
        generator = torch.Generator()
        for c, dims in enumerate(chunks):
            block = prng.block_size(dims.shape[0], plan.n_candidates, BLOCK_ELEMENTS)
            index = int(indices[c])
            out = torch.empty(block, dims.shape[0])
            self._fill(out, generator, keys[c], index // block)
            u[dims] = out[index % block].numpy()
        return u
