"""The codec contract, checked on every weight-free adapter with a real Kodak crop."""

from __future__ import annotations

import numpy as np
import pytest

from rdpbench.bitstream import Header
from rdpbench.codecs.heif import HEIF
from rdpbench.codecs.imagecodecs_codecs import JPEG2000, JPEGXL
from rdpbench.codecs.pillow_codecs import AVIF, JPEG, WebP
from rdpbench.codecs.resample import Resample
from rdpbench.errors import BitstreamError, ConfigError
from rdpbench.metrics.pixel import psnr
from rdpbench.runners.isolated import decode_in_fresh_process

# (factory, hydra-style config for the isolated decode, low-rate op, high-rate op)
CODECS = {
    "jpeg": (lambda: JPEG(), {"_target_": "rdpbench.codecs.pillow_codecs.JPEG"}, {"quality": 5}, {"quality": 60}),
    "jpeg444": (lambda: JPEG(subsampling="4:4:4"),
                {"_target_": "rdpbench.codecs.pillow_codecs.JPEG", "subsampling": "4:4:4"},
                {"quality": 5}, {"quality": 60}),
    "webp": (lambda: WebP(), {"_target_": "rdpbench.codecs.pillow_codecs.WebP"}, {"quality": 0}, {"quality": 60}),
    "avif": (lambda: AVIF(speed=8), {"_target_": "rdpbench.codecs.pillow_codecs.AVIF", "speed": 8},
             {"quality": 5}, {"quality": 60}),
    "jpegxl": (lambda: JPEGXL(effort=3), {"_target_": "rdpbench.codecs.imagecodecs_codecs.JPEGXL", "effort": 3},
               {"distance": 20.0}, {"distance": 2.0}),
    "jpeg2000": (lambda: JPEG2000(), {"_target_": "rdpbench.codecs.imagecodecs_codecs.JPEG2000"},
                 {"psnr_target": 20}, {"psnr_target": 34}),
    "heif": (lambda: HEIF(preset="ultrafast"), {"_target_": "rdpbench.codecs.heif.HEIF", "preset": "ultrafast"},
             {"quality": 5}, {"quality": 60}),
    "resample": (lambda: Resample(JPEG()), {"_target_": "rdpbench.codecs.resample.Resample",
                                            "inner": {"_target_": "rdpbench.codecs.pillow_codecs.JPEG"}},
                 {"scale": 4.0, "quality": 20}, {"scale": 1.0, "quality": 60}),
}


@pytest.fixture(params=sorted(CODECS))
def case(request):
    factory, config, low, high = CODECS[request.param]
    return factory(), config, low, high


def test_round_trip_shape_quality_and_rate_order(case, small_image):
    codec, _, low, high = case
    low_stream, high_stream = codec.encode(small_image, low), codec.encode(small_image, high)
    low_image, high_image = codec.decode(low_stream), codec.decode(high_stream)
    assert low_image.shape == high_image.shape == small_image.shape
    assert low_image.dtype == np.uint8
    assert len(low_stream) < len(high_stream)
    assert psnr(small_image, low_image) < psnr(small_image, high_image)
    assert psnr(small_image, high_image) > 24  # a real codec, not noise


def test_header_is_counted_and_describes_the_stream(case, small_image):
    codec, _, low, _ = case
    stream = codec.encode(small_image, low)
    sections = codec.sections(stream)
    assert sum(sections.values()) == len(stream)
    header, op, size = codec.parse_header(stream)
    assert size == sections["header"] <= 10
    assert (header.width, header.height) == (small_image.shape[1], small_image.shape[0])
    assert op == codec.validate(low)


def test_deterministic_and_fresh_process_decode_is_identical(case, small_image):
    codec, config, low, _ = case
    stream = codec.encode(small_image, low)
    assert stream == codec.encode(small_image, low)
    assert np.array_equal(decode_in_fresh_process(config, stream), codec.decode(stream))


@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.5, 0.95])
def test_truncated_stream_is_a_codec_error(case, small_image, fraction):
    codec, _, low, _ = case
    stream = codec.encode(small_image, low)
    with pytest.raises(BitstreamError):
        codec.decode(stream[: int(len(stream) * fraction)] if fraction else b"")


def test_corrupted_stream_errors_or_keeps_the_size(case, small_image):
    """Formats without checksums may decode flipped bytes; they must never crash or change size."""
    codec, _, low, _ = case
    stream = codec.encode(small_image, low)
    rng = np.random.default_rng(0)
    for _ in range(8):
        corrupt = bytearray(stream)
        corrupt[rng.integers(10, len(stream))] ^= 0xFF
        try:
            image = codec.decode(bytes(corrupt))
        except BitstreamError:
            continue
        assert image.shape == small_image.shape and image.dtype == np.uint8


def test_stream_of_another_codec_is_refused(small_image):
    stream = WebP().encode(small_image, {"quality": 10})
    with pytest.raises(BitstreamError, match="codec id 2"):
        JPEG().decode(stream)


def test_header_size_mismatch_is_refused(small_image):
    codec = JPEG()
    stream = codec.encode(small_image, {"quality": 10})
    _, _, size = codec.parse_header(stream)
    lying = Header(codec.codec_id, small_image.shape[1] + 1, small_image.shape[0], (10,)).pack()
    with pytest.raises(BitstreamError, match=r"codec .jpeg., section .payload.: payload declares 256x192, the header 257x192"):
        codec.decode(lying + stream[size:])


@pytest.mark.parametrize("ops, message", [
    ({"quality": [0]}, "outside"),
    ({"quality": ["high"]}, "not a number"),
    ({"qualty": [5]}, "unknown operating-point knob"),
])
def test_bad_operating_points_are_config_errors(ops, message):
    with pytest.raises(ConfigError, match=message):
        JPEG(ops=ops)


def test_bad_codec_options_are_config_errors():
    with pytest.raises(ConfigError, match="subsampling"):
        JPEG(subsampling="4:1:1")
    with pytest.raises(ConfigError, match="filter"):
        Resample(JPEG(), down_filter="nearest-ish")


def test_resample_reaches_ultra_low_rates(kodak_image):
    codec = Resample(JPEG())
    stream = codec.encode(kodak_image, {"scale": 8.0, "quality": 10})
    bpp = 8 * len(stream) / (kodak_image.shape[0] * kodak_image.shape[1])
    assert bpp < 0.02
    assert codec.decode(stream).shape == kodak_image.shape
    assert codec.parse_header(stream)[1]["scale"] == 8.0
