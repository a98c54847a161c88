"""Learned-codec streams that decode on any device: the entropy parameters do not depend on how the
main transforms or the thread count round, and device-dependent (autoregressive) streams say where
they were made.

What differs between a GPU and a CPU decode is the arithmetic of the convolutions; here that is
exaggerated by running the main transforms in float64 instead of float32 and by changing torch's
thread count. The hyper path runs on a float64 host copy (rdpbench/codecs/learned.py), so the
CDF indexes, the means and the entropy-decoded latents must stay identical bit for bit; if they
came from the device's net (as CompressAI's own decompress does), the means would move with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rdpbench.bitstream import check_value
from rdpbench.codecs.compressai_zoo import Bmshj2018Hyperprior, Mbt2018, Mbt2018Mean
from rdpbench.codecs.learned import CompressAIModelCodec, HyperLatents
from rdpbench.codecs.trained import UltraLow
from rdpbench.errors import BitstreamError
from test_codecs_learned import save_random_zoo_weights

MSILLM_ARCH = {"latent_features": 8, "hyper_features": 8, "num_residual_blocks": 1}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RDPBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TORCH_HOME", raising=False)
    return tmp_path / "cache"


def hyperprior_codec(kind: str) -> CompressAIModelCodec:
    """A codec of each hyperprior family: the shipped model, two CompressAI zoo layouts, MS-ILLM."""
    if kind == "ultralow":
        return UltraLow({"step": [2.0]})
    if kind == "msillm":
        pytest.importorskip("neuralcompression.zoo", reason="neuralcompression not installed (see msillm.py)")
        from neuralcompression.models import HiFiCAutoencoder

        from rdpbench.codecs.msillm import MSILLM, release_location

        torch.manual_seed(0)
        net = HiFiCAutoencoder(**MSILLM_ARCH)
        net.update(force=True)
        _, path = release_location(1)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), path)
        return MSILLM({"quality": [1]}, architecture=MSILLM_ARCH)
    cls = {"bmshj2018-hyperprior": Bmshj2018Hyperprior, "mbt2018-mean": Mbt2018Mean}[kind]
    save_random_zoo_weights(cls)
    return cls({"quality": [1]})


def assert_identical(a: HyperLatents, b: HyperLatents) -> None:
    for name in ("z_hat", "indexes", "means", "y_hat"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype and torch.equal(x, y), f"{name} differs"


@pytest.mark.parametrize("kind", ["ultralow", "bmshj2018-hyperprior", "mbt2018-mean", "msillm"])
def test_entropy_parameters_do_not_depend_on_threads_or_main_transform_precision(kind, cache, small_image):
    codec = hyperprior_codec(kind)
    assert codec.layout is not None and not codec.device_tagged
    assert codec.config()["entropy_parameters"] == "float64 host"
    op = codec.operating_points()[0]
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        stream = codec.encode(small_image, op)
        reference = codec.decode_latents(stream)
        pixels = codec.decode(stream)
        torch.set_num_threads(1)
        assert codec.encode(small_image, op) == stream  # the encoder ignores the process's thread count
        assert_identical(codec.decode_latents(stream), reference)
        # the same stream on "another device": main transforms in float64, one thread
        other = hyperprior_codec(kind)
        net = other.net(op)
        net.double()
        assert_identical(other.decode_latents(stream), reference)
        moved = other.decode(stream)
    finally:
        torch.set_num_threads(previous)
    assert reference.means is not None or kind == "bmshj2018-hyperprior"
    difference = int(np.abs(moved.astype(int) - pixels.astype(int)).max())
    print(f"{kind}: largest pixel difference float32 vs float64 synthesis of one stream: {difference}")
    assert difference <= 2  # only the synthesis rounding moves pixels, never the latents


def test_autoregressive_streams_carry_their_device_class_and_refuse_another(cache, small_image):
    save_random_zoo_weights(Mbt2018)
    codec = Mbt2018({"quality": [1]})
    assert codec.device_tagged and codec.layout is None
    stream = codec.encode(small_image, {"quality": 1})
    sections = codec.sections(stream)
    assert sections["device"] == 1 and sum(sections.values()) == len(stream)
    assert codec.decode(stream).shape == small_image.shape
    header, check = sections["header"], sections["check"]
    assert stream[header] == 0  # made on the CPU

    def made_on(code: int) -> bytes:  # the stream with another device byte and its CRC redone
        covered = stream[:header] + bytes([code]) + stream[header + 1:len(stream) - check]
        return covered + check_value(covered, check)

    with pytest.raises(BitstreamError, match="encoded on cuda.*device=cuda"):
        codec.decode(made_on(1))
    with pytest.raises(BitstreamError, match="section 'device'"):
        codec.decode(made_on(9))
    with pytest.raises(BitstreamError, match="checksum"):  # the byte is covered by the stream's CRC
        codec.decode(stream[:header] + bytes([1]) + stream[header + 1:])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: the CPU test above stands in for it")
def test_cuda_encoded_ultralow_stream_decodes_on_cpu_to_identical_latents(small_image):
    from rdpbench.device import deterministic_cuda

    deterministic_cuda()
    on_gpu, on_cpu = UltraLow({"step": [2.0]}, device="cuda"), UltraLow({"step": [2.0]})
    stream = on_gpu.encode(small_image, {"step": 2.0})
    assert np.array_equal(on_gpu.decode(stream), on_gpu.decode(stream))  # deterministic cuDNN
    assert_identical(on_cpu.decode_latents(stream), on_gpu.decode_latents(stream))
    cpu_stream = on_cpu.encode(small_image, {"step": 2.0})
    assert_identical(on_gpu.decode_latents(cpu_stream), on_cpu.decode_latents(cpu_stream))
    difference = np.abs(on_cpu.decode(stream).astype(int) - on_gpu.decode(stream).astype(int)).max()
    print(f"ultralow: largest pixel difference CUDA vs CPU synthesis of one stream: {difference}")
