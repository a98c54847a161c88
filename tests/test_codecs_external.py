"""Command-line video-codec intra adapters on real Kodak pixels (skipped, with the reason, without their binaries)."""

from __future__ import annotations

import numpy as np
import pytest

from rdpbench.codecs.base import Codec
from rdpbench.codecs.external import AomAV1, CommandLineCodec, SvtAV1, VVenC, X265, ivf_frames
from rdpbench.errors import BitstreamError, CodecError
from rdpbench.metrics.pixel import psnr

# (factory, low-rate op, high-rate op)
CASES = {
    "x265-444": (lambda: X265(chroma="444"), {"qp": 45}, {"qp": 30}),
    "x265-420": (lambda: X265(chroma="420"), {"qp": 45}, {"qp": 30}),
    "aom-444": (lambda: AomAV1(chroma="444", preset=6), {"cq_level": 55}, {"cq_level": 30}),
    "aom-420": (lambda: AomAV1(chroma="420", preset=6), {"cq_level": 55}, {"cq_level": 30}),
    "svt-av1": (lambda: SvtAV1(preset=8), {"crf": 55}, {"crf": 30}),
    "vvenc": (lambda: VVenC(preset="faster"), {"qp": 45}, {"qp": 30}),
}


def ready(codec: Codec) -> Codec:
    try:
        codec.requirements()
    except CodecError as exc:
        pytest.skip(str(exc))
    return codec


@pytest.mark.parametrize("case", list(CASES))
def test_round_trip_rate_and_determinism(case: str, small_image: np.ndarray) -> None:
    make, low, high = CASES[case]
    codec = ready(make())
    low_stream, high_stream = codec.encode(small_image, low), codec.encode(small_image, high)
    assert len(low_stream) < len(high_stream)
    low_image, high_image = codec.decode(low_stream), codec.decode(high_stream)
    assert low_image.shape == small_image.shape and low_image.dtype == np.uint8
    assert psnr(small_image, low_image) < psnr(small_image, high_image)
    assert psnr(small_image, high_image) > 30
    assert make().encode(small_image, high) == high_stream
    assert np.array_equal(make().decode(high_stream), high_image)


@pytest.mark.parametrize("make", [lambda: X265(chroma="420"), lambda: SvtAV1(preset=8)], ids=["x265", "svt-av1"])
def test_odd_size_420(make, kodak_image: np.ndarray) -> None:
    codec = ready(make())
    image = np.ascontiguousarray(kodak_image[:97, :131])
    op = codec.operating_points()[0] if codec.operating_points() else {codec.rate_knob: 35}
    assert codec.decode(codec.encode(image, op)).shape == image.shape


def test_colour_conversion_cost_is_small(small_image: np.ndarray) -> None:
    """At QP 0 the loss is mostly the RGB->YCbCr->RGB rounding: 4:4:4 must stay near lossless."""
    codec = ready(X265(chroma="444"))
    assert psnr(small_image, codec.decode(codec.encode(small_image, {"qp": 0}))) > 45


def test_missing_binaries_named_with_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    for codec, binary, install in [(X265(), "x265", "apt-get install x265"),
                                   (AomAV1(), "aomenc", "apt-get install aom-tools"),
                                   (SvtAV1(), "SvtAv1EncApp", "apt-get install svt-av1"),
                                   (VVenC(), "vvencapp", "github.com/fraunhoferhhi/vvenc")]:
        with pytest.raises(CodecError, match=f"`{binary}`.*{install}"):
            codec.requirements()


@pytest.mark.parametrize("case", ["x265-420", "aom-444", "svt-av1"])
def test_corrupt_streams(case: str, small_image: np.ndarray) -> None:
    make, low, _ = CASES[case]
    codec: CommandLineCodec = ready(make())
    stream = codec.encode(small_image, low)
    header = codec.sections(stream)["header"]
    with pytest.raises(BitstreamError):
        codec.decode(stream[:header])  # empty payload
    with pytest.raises(BitstreamError):
        codec.decode(stream[:header] + bytes(range(256)) * 4)  # not a video bitstream at all


def test_decode_in_fresh_process(small_image: np.ndarray) -> None:
    from rdpbench.runners.isolated import decode_in_fresh_process

    codec = ready(X265(chroma="444"))
    stream = codec.encode(small_image, {"qp": 40})
    config = {"_target_": "rdpbench.codecs.external.X265", "chroma": "444", "preset": "slow"}
    assert np.array_equal(decode_in_fresh_process(config, stream), codec.decode(stream))


def test_ivf_is_stripped_and_checked() -> None:
    frame = b"\x12\x00\x0a\x0b"
    ivf = b"DKIF" + bytes(28) + len(frame).to_bytes(4, "little") + bytes(8) + frame
    assert ivf_frames(ivf) == frame
    with pytest.raises(CodecError, match="not IVF"):
        ivf_frames(b"RIFF" + bytes(40))
