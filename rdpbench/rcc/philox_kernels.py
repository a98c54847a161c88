"""CUDA candidates for the torch RCC backend: counter-based Philox in Triton, generated and scored in place.

Candidate j of a chunk with key k and d dimensions is the normals of Philox4x32-10 (Triton's
`tl.randn4x`: key k, counter (j * ceil(d/4) + q) for q = 0..ceil(d/4)-1, four normals per
counter, Box-Muller), dimension 4q + lane taking lane `lane`. So any candidate is addressable
alone (the decoder's `candidates`) and the encoder's `search` draws 2^bits of them per chunk
without ever storing one: each program multiplies its tile of normals by m_c and keeps only the
dot products. torch's own CUDA generator cannot do this: what element i of torch.randn is depends
on the launch configuration, not on i alone. Arrival times are drawn by Philox too (the chunk's
private key, counter j), so indices depend on nothing but the seed and the device class.

This module imports Triton; it is loaded only when a torch RCC backend runs on CUDA (or, for the
CPU tests, under TRITON_INTERPRET=1).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import triton
import triton.language as tl

BLOCK_K = 64  # candidates per program
BLOCK_Q = 32  # Philox counters (4 dimensions each) per inner step


# do_not_specialize: one compiled kernel for every candidate count and chunk width (Triton would
# otherwise recompile for each new value's divisibility by 16, seconds inside an encode)
@triton.jit(do_not_specialize=["n_candidates", "m_stride"])
def _score_kernel(m_ptr, dim_ptr, key_ptr, private_ptr, dot_ptr, exp_ptr, n_candidates, m_stride,
                  BLOCK_K: tl.constexpr, BLOCK_Q: tl.constexpr):
    chunk = tl.program_id(0)
    j = (tl.program_id(1) * BLOCK_K + tl.arange(0, BLOCK_K)).to(tl.int64)
    dim = tl.load(dim_ptr + chunk)
    key = tl.load(key_ptr + chunk)
    counters = (dim + 3) // 4
    acc = tl.zeros([BLOCK_K], dtype=tl.float32)
    for q0 in range(0, counters, BLOCK_Q):
        q = q0 + tl.arange(0, BLOCK_Q)
        n0, n1, n2, n3 = tl.randn4x(key, j[:, None] * counters + q[None, :])
        base = m_ptr + chunk * m_stride + 4 * q
        m0 = tl.load(base, mask=4 * q < dim, other=0.0)
        m1 = tl.load(base + 1, mask=4 * q + 1 < dim, other=0.0)
        m2 = tl.load(base + 2, mask=4 * q + 2 < dim, other=0.0)
        m3 = tl.load(base + 3, mask=4 * q + 3 < dim, other=0.0)
        acc += tl.sum(n0 * m0[None, :] + n1 * m1[None, :] + n2 * m2[None, :] + n3 * m3[None, :], axis=1)
    valid = j < n_candidates
    tl.store(dot_ptr + chunk * n_candidates + j, acc, mask=valid)
    uniform = tl.rand(tl.load(private_ptr + chunk), j)
    tl.store(exp_ptr + chunk * n_candidates + j, -tl.log(1.0 - uniform), mask=valid)


@triton.jit(do_not_specialize=["out_stride"])
def _candidate_kernel(key_ptr, dim_ptr, index_ptr, out_ptr, out_stride, BLOCK_Q: tl.constexpr):
    chunk = tl.program_id(0)
    q = tl.program_id(1) * BLOCK_Q + tl.arange(0, BLOCK_Q)
    dim = tl.load(dim_ptr + chunk)
    counters = (dim + 3) // 4
    n0, n1, n2, n3 = tl.randn4x(tl.load(key_ptr + chunk), tl.load(index_ptr + chunk) * counters + q)
    base = out_ptr + chunk * out_stride + 4 * q
    tl.store(base, n0, mask=4 * q < dim)
    tl.store(base + 1, n1, mask=4 * q + 1 < dim)
    tl.store(base + 2, n2, mask=4 * q + 2 < dim)
    tl.store(base + 3, n3, mask=4 * q + 3 < dim)


def _int64(values: Sequence[int], device: Any) -> Any:
    """64-bit keys as the int64 bit pattern Triton reads (it reinterprets them as unsigned)."""
    import torch

    return torch.from_numpy(np.asarray(values, dtype=np.uint64).view(np.int64)).to(device)


def scores(means: np.ndarray, dims: Sequence[int], n_candidates: int, keys: Sequence[int], private: Sequence[int],
           device: Any) -> tuple[Any, Any]:
    """(m_c . z_j, exponential arrival gaps) for every candidate j of each chunk c (row c of `means`)."""
    import torch

    dots = torch.empty(len(dims), n_candidates, dtype=torch.float32, device=device)
    gaps = torch.empty_like(dots)
    grid = (len(dims), triton.cdiv(n_candidates, BLOCK_K))
    _score_kernel[grid](torch.from_numpy(np.ascontiguousarray(means, dtype=np.float32)).to(device),
                        torch.tensor(list(dims), dtype=torch.int64, device=device), _int64(keys, device),
                        _int64(private, device), dots, gaps, n_candidates, means.shape[1],
                        BLOCK_K=BLOCK_K, BLOCK_Q=BLOCK_Q)
    return dots, gaps


def search(m: np.ndarray, chunks: Sequence[np.ndarray], n_candidates: int, keys: Sequence[int],
           private: Sequence[int], device: Any, max_scores: int) -> np.ndarray:
    """The chosen index of every chunk: argmax_j (m_c . z_j - log T_j), max_scores candidates at a time."""
    import torch

    per_group = max(1, max_scores // n_candidates)
    width = max(d.shape[0] for d in chunks)
    out = np.empty(len(chunks), dtype=np.int64)
    for first in range(0, len(chunks), per_group):
        group = range(first, min(len(chunks), first + per_group))
        means = np.zeros((len(group), width), dtype=np.float32)
        for row, c in enumerate(group):
            means[row, :chunks[c].shape[0]] = m[chunks[c]]
        dots, gaps = scores(means, [chunks[c].shape[0] for c in group], n_candidates, [keys[c] for c in group],
                            [private[c] for c in group], device)
        total = dots.double() - torch.log(torch.cumsum(gaps.double(), dim=1))
        out[first:first + len(group)] = torch.argmax(total, dim=1).cpu().numpy()
    return out


def candidates(keys: Sequence[int], dims: Sequence[int], indices: np.ndarray, device: Any) -> np.ndarray:
    """Row c = candidate indices[c] of chunk c (its first dims[c] entries), regenerated alone."""
    import torch

    width = max(dims)
    out = torch.zeros(len(dims), width, dtype=torch.float32, device=device)
    grid = (len(dims), triton.cdiv(triton.cdiv(width, 4), BLOCK_Q))
    _candidate_kernel[grid](_int64(keys, device), torch.tensor(list(dims), dtype=torch.int64, device=device),
                            torch.from_numpy(np.asarray(indices, dtype=np.int64)).to(device), out, width,
                            BLOCK_Q=BLOCK_Q)
    return out.cpu().numpy()
