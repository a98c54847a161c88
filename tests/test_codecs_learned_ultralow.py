"""The shipped `ultralow` model: real weights from the repository, real numbers on a Kodak crop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rdpbench.codecs.learned import image_to_tensor, pack_strings
from rdpbench.codecs.trained import SHIPPED_SHA256, SHIPPED_WEIGHTS, UltraLow
from rdpbench.errors import BitstreamError, CodecError, WeightsError
from rdpbench.metrics.pixel import psnr
from rdpbench.runners.rate_control import stream_bpp


@pytest.fixture(scope="module")
def codec() -> UltraLow:
    return UltraLow({"step": [1.0, 2.0, 4.0]})


def test_shipped_weights_present_and_pinned(codec: UltraLow) -> None:
    from rdpbench.weights import sha256_of

    assert codec.requirements() == ""
    assert sha256_of(SHIPPED_WEIGHTS) == SHIPPED_SHA256
    assert SHIPPED_WEIGHTS.stat().st_size < 20e6


def test_round_trip_quality_and_step_knob(codec: UltraLow, small_image: np.ndarray) -> None:
    streams = {s: codec.encode(small_image, {"step": s}) for s in (1.0, 2.0, 4.0)}
    rates = {s: stream_bpp(b, small_image) for s, b in streams.items()}
    quality = {s: psnr(small_image, codec.decode(b)) for s, b in streams.items()}
    assert rates[4.0] < rates[2.0] < rates[1.0] < 0.6
    assert quality[4.0] < quality[1.0]
    assert quality[1.0] > 20  # a trained model, not noise (random weights give ~10 dB)


def test_step_one_is_compressai_own_coder(codec: UltraLow, small_image: np.ndarray) -> None:
    """The quantisation-step path reduces to MeanScaleHyperprior.compress at step 1."""
    import torch

    net = codec.net({"step": 1.0})
    with torch.inference_mode():
        reference = pack_strings(net.compress(image_to_tensor(small_image, "cpu"))["strings"])
    stream = codec.encode(small_image, {"step": 1.0})
    sections = codec.sections(stream)
    assert sections["check"] == codec.check_bytes == 2
    assert stream[sections["header"]:len(stream) - sections["check"]] == reference


def test_fresh_process_decode_identical(codec: UltraLow, small_image: np.ndarray) -> None:
    from rdpbench.runners.isolated import decode_in_fresh_process

    stream = codec.encode(small_image, {"step": 2.0})
    assert UltraLow().encode(small_image, {"step": 2.0}) == stream
    decoded = decode_in_fresh_process({"_target_": "rdpbench.codecs.trained.UltraLow"}, stream)
    assert np.array_equal(decoded, codec.decode(stream))


def test_corrupt_and_foreign_streams(codec: UltraLow, small_image: np.ndarray) -> None:
    stream = codec.encode(small_image, {"step": 1.0})
    with pytest.raises(BitstreamError):
        codec.decode(stream[:5])
    with pytest.raises(BitstreamError, match="codec id"):
        codec.decode(bytes([stream[0], 1]) + stream[2:])


def test_bad_weights(tmp_path: Path, small_image: np.ndarray) -> None:
    tampered = tmp_path / "ultralow.pth"
    data = bytearray(SHIPPED_WEIGHTS.read_bytes())
    data[-100] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="SHA-256"):
        UltraLow(weights=str(tampered), sha256=SHIPPED_SHA256).encode(small_image, {"step": 1.0})
    with pytest.raises(CodecError, match="missing"):
        UltraLow(weights=str(tmp_path / "absent.pth")).requirements()
