"""RCC backends: each reproduces its own streams, the backend travels in the stream, a foreign one is refused.

The numpy backend's streams are pinned byte for byte by test_diffc_golden.py. The torch backend's
CUDA kernels (rdpbench/rcc/philox_kernels.py) are checked on the CPU through Triton's interpreter
against a numpy Philox4x32-10 reference; on a GPU the same checks run natively.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rdpbench.codecs.diffc import DiffC
from rdpbench.diffusion.gaussian import GaussianDenoiser
from rdpbench.errors import BitstreamError, ConfigError
from rdpbench.rcc import ChunkPlan, NumpyRCC, RCCSettings, backend_for, prng
from rdpbench.rcc.chunked import chunk_dimensions
from rdpbench.rcc.torch_rcc import TorchRCC

HERE = Path(__file__).resolve().parent
SMALL = dict(seed=3, num_steps=6, t_max=640, t_min=300, chunk_kl_bits=6.0, slack_bits=2.0, max_bits=9,
             decode_steps=10, tile_size=64, tile_overlap=8)


def kl_bits(m: np.ndarray) -> float:
    return float(m @ m) / (2 * math.log(2))


@pytest.fixture(scope="module")
def crop(small_image) -> np.ndarray:
    return np.ascontiguousarray(small_image[20:68, 40:104])  # 48 x 64: one tile


def test_backends_by_name_and_device():
    assert isinstance(backend_for("numpy", "cuda"), NumpyRCC)  # numpy runs on the host whatever the run's device
    assert backend_for("torch", "cpu").name == "torch-cpu"
    assert (NumpyRCC().code, TorchRCC("cpu").code) == (0, 1)
    with pytest.raises(ConfigError, match="rcc_backend='cupy'"):
        backend_for("cupy", "cpu")
    with pytest.raises(ConfigError, match="resolved once per run"):
        backend_for("torch", "auto")


def test_torch_cpu_sample_has_mean_and_covariance_of_target():
    """As the numpy backend's test (test_rcc.py): over 3000 keys u ~ N(m, I), and the decoder's
    regeneration is the encoder's sample. Returning the proposal, or the best-scoring candidate
    without the arrival-time term, fails it."""
    backend = TorchRCC("cpu")
    m = np.array([1.0, -0.6])
    plan = ChunkPlan.for_kl(kl_bits(m), 2, RCCSettings(chunk_kl_bits=4, slack_bits=8, max_bits=12))
    n = 3000
    samples = np.empty((n, 2))
    for trial in range(n):
        indices, u = backend.encode_sample(m, plan, (11, 0, trial))
        np.testing.assert_array_equal(backend.decode_sample(indices, plan, (11, 0, trial), 2), u)
        samples[trial] = u
    assert np.all(np.abs(samples.mean(axis=0) - m) < 4 / math.sqrt(n))
    assert np.all(np.abs(np.cov(samples.T) - np.eye(2)) < 0.11)


def test_torch_cpu_multi_chunk_is_reproducible_and_thread_independent():
    backend = TorchRCC("cpu")
    m = np.random.default_rng(1).normal(0, 0.045, 20000).astype(np.float32)  # ~30 bits over 20000 dims
    plan = ChunkPlan.for_kl(kl_bits(m), m.size, RCCSettings(8, 2, 12))
    block = prng.block_size(m.size // plan.n_chunks, plan.n_candidates, 1 << 16)
    assert plan.n_chunks > 3 and plan.n_candidates // block > 16  # many generator blocks (and groups) per chunk
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        first = backend.encode_sample(m, plan, (4, 2, 9))
        torch.set_num_threads(1)
        second = backend.encode_sample(m, plan, (4, 2, 9))
    finally:
        torch.set_num_threads(previous)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_array_equal(backend.decode_sample(first[0], plan, (4, 2, 9), m.size), first[1])
    assert not np.array_equal(backend.encode_sample(m, plan, (4, 2, 10))[0], first[0])


def test_diffc_streams_carry_their_backend_and_foreign_ones_are_refused(crop):
    numpy_codec = DiffC(GaussianDenoiser(), **SMALL)
    torch_codec = DiffC(GaussianDenoiser(), rcc_backend="torch", device="cpu", **SMALL)
    ops = [{"steps": 3}, {"steps": 6}]
    numpy_streams, torch_streams = numpy_codec.encode_many(crop, ops), torch_codec.encode_many(crop, ops)
    assert DiffC(GaussianDenoiser(), rcc_backend="torch", **SMALL).encode_many(crop, ops) == torch_streams
    for stream in torch_streams:
        assert np.array_equal(torch_codec.decode(stream), torch_codec.decode(stream))
        sections = torch_codec.sections(stream)
        assert sum(sections.values()) == len(stream)
    n_header = numpy_codec.sections(numpy_streams[1])["header"]
    # the steps field (last header varint) holds steps + 1024 * code: one byte more than numpy's
    assert torch_codec.sections(torch_streams[1])["header"] == n_header + 1
    assert torch_codec.parse_header(torch_streams[1])[1] == {"steps": 6}
    with pytest.raises(BitstreamError, match="'torch-cpu' RCC backend.*rcc_backend=torch device=cpu"):
        numpy_codec.decode(torch_streams[1])
    with pytest.raises(BitstreamError, match="'numpy' RCC backend.*rcc_backend=numpy"):
        torch_codec.decode(numpy_streams[1])
    forged = bytearray(numpy_streams[1])
    forged[n_header - 1:n_header] = bytes([0x86, 0x48])  # steps 6 -> 1024 * 9 + 6: backend code 9
    with pytest.raises(BitstreamError, match="unknown RCC backend code 9"):
        numpy_codec.decode(bytes(forged))
    assert torch_codec.config()["rcc_backend"] == "torch-cpu" and numpy_codec.config()["rcc_backend"] == "numpy"


def test_torch_stream_decodes_identically_in_a_fresh_process(crop):
    from rdpbench.runners.isolated import decode_in_fresh_process

    config = {"_target_": "rdpbench.codecs.diffc.DiffC", "rcc_backend": "torch", "device": "cpu",
              "denoiser": {"_target_": "rdpbench.diffusion.gaussian.GaussianDenoiser"}, **SMALL}
    codec = DiffC(GaussianDenoiser(), rcc_backend="torch", **SMALL)
    stream = codec.encode(crop, {"steps": 4})
    assert np.array_equal(decode_in_fresh_process(config, stream), codec.decode(stream))


# --- the CUDA kernels, through Triton's interpreter on the CPU ------------------------------------
def philox_normals(key: int, counters: np.ndarray) -> np.ndarray:
    """numpy reference of Triton's tl.randn4x(key, counter): Philox4x32-10 (Salmon et al. 2011), then
    Triton's uint->uniform map and Box-Muller. Shape: counters.shape + (4,)."""
    mask = np.uint64(0xFFFFFFFF)
    c0 = (counters.astype(np.uint64) & mask).astype(np.uint64)
    c1 = (counters.astype(np.uint64) >> np.uint64(32)).astype(np.uint64)
    c2 = np.zeros_like(c0)
    c3 = np.zeros_like(c0)
    k0, k1 = np.uint64(key & 0xFFFFFFFF), np.uint64(key >> 32)
    a, b = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
    for _ in range(10):
        pa, pb = a * c0, b * c2
        c0, c1, c2, c3 = ((pb >> np.uint64(32)) ^ c1 ^ k0), pb & mask, ((pa >> np.uint64(32)) ^ c3 ^ k1), pa & mask
        k0, k1 = (k0 + np.uint64(0x9E3779B9)) & mask, (k1 + np.uint64(0xBB67AE85)) & mask
    ints = [c.astype(np.uint32).view(np.int32) for c in (c0, c1, c2, c3)]
    u = [np.where(x < 0, ~x, x).astype(np.float32) * np.float32(4.6566127342e-10) for x in ints]
    out = []
    for u1, u2 in ((u[0], u[1]), (u[2], u[3])):
        r = np.sqrt(np.float32(-2.0) * np.log(np.maximum(np.float32(1e-7), u1)))
        theta = np.float32(6.283185307179586) * u2
        out += [r * np.cos(theta), r * np.sin(theta)]
    return np.stack(out, axis=-1)


def kernel_checks(device: str = "cpu") -> None:
    """The CUDA path's contract (run by the tests under TRITON_INTERPRET=1 on the CPU, natively on a GPU)."""
    from rdpbench.rcc import philox_kernels as pk

    m = np.random.default_rng(0).normal(0, 0.6, 46).astype(np.float32)
    plan = ChunkPlan.for_kl(kl_bits(m), m.size, RCCSettings(3, 3, 8))
    words = (2, 1, 3)
    chunks = chunk_dimensions(plan, m.size, words)
    keys = [int(prng.chunk_key(*words, c)[0]) for c in range(len(chunks))]
    private = [int(k) ^ 0x5A5A for k in keys]
    dims = [d.shape[0] for d in chunks]
    assert len(set(dims)) == 2 and plan.n_chunks >= 3  # unequal chunks: masks and strides exercised
    # 1. one candidate regenerated alone is Philox(key, j * ceil(d/4) + q), lane by lane
    j = np.array([0, 5, plan.n_candidates - 1] + [1] * (len(chunks) - 3))[:len(chunks)]
    rows = pk.candidates(keys, dims, j, device)
    for c, d in enumerate(dims):
        want = philox_normals(keys[c], j[c] * ((d + 3) // 4) + np.arange((d + 3) // 4)).reshape(-1)[:d]
        np.testing.assert_allclose(rows[c, :d], want, rtol=2e-5, atol=2e-6)
        assert np.all(rows[c, d:] == 0)
    # 2. the fused kernel's scores are m_c . z_j of exactly those candidates, and its gaps are Exp(1)
    width = max(dims)
    means = np.zeros((len(chunks), width), np.float32)
    for c, d in enumerate(chunks):
        means[c, :d.shape[0]] = m[d]
    dots, gaps = (t.cpu().numpy() for t in pk.scores(means, dims, plan.n_candidates, keys, private, device))
    every = np.arange(plan.n_candidates)
    for c in (0, len(chunks) - 1):
        z = pk.candidates([keys[c]] * plan.n_candidates, [dims[c]] * plan.n_candidates, every, device)
        np.testing.assert_allclose(dots[c], z[:, :dims[c]] @ means[c, :dims[c]], rtol=1e-4, atol=1e-4)
    assert np.all(gaps > 0) and abs(gaps.mean() - 1) < 0.1
    # 3. the search is argmax(dots - log cumsum(gaps)), the same for any bound on held scores
    chosen = pk.search(m, chunks, plan.n_candidates, keys, private, device, 1 << 20)
    np.testing.assert_array_equal(chosen, np.argmax(dots - np.log(np.cumsum(gaps.astype(np.float64), 1)), 1))
    np.testing.assert_array_equal(pk.search(m, chunks, plan.n_candidates, keys, private, device, plan.n_candidates),
                                  chosen)


def test_cuda_kernels_under_the_triton_interpreter():
    pytest.importorskip("triton", reason="Triton not installed (it ships with torch's CUDA wheels)")
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    done = subprocess.run([sys.executable, "-c", "import test_rcc_backends as t; t.kernel_checks('cpu')"],
                          capture_output=True, text=True, cwd=HERE, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: the interpreter test stands in for it")
def test_torch_cuda_backend_reproduces_its_streams_and_is_refused_elsewhere(crop):
    from rdpbench.device import deterministic_cuda

    deterministic_cuda()
    kernel_checks("cuda")
    cuda_codec = DiffC(GaussianDenoiser(), rcc_backend="torch", device="cuda", **SMALL)
    streams = cuda_codec.encode_many(crop, [{"steps": 6}])
    assert DiffC(GaussianDenoiser(), rcc_backend="torch", device="cuda", **SMALL).encode_many(
        crop, [{"steps": 6}]) == streams
    assert np.array_equal(cuda_codec.decode(streams[0]), cuda_codec.decode(streams[0]))
    with pytest.raises(BitstreamError, match="'torch-cuda' RCC backend.*device=cuda"):
        DiffC(GaussianDenoiser(), rcc_backend="torch", device="cpu", **SMALL).decode(streams[0])
