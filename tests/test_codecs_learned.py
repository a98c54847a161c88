"""CompressAI zoo and MS-ILLM adapters with small random networks saved where the real loaders look.

Weights are saved as TORCH_HOME/hub/checkpoints/<zoo file name> inside a temporary
RDPBENCH_CACHE, so the code users run (URL table -> cache path -> from_state_dict)
is the code tested; only the network size and the weight values differ.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rdpbench.bitstream import Header
from rdpbench.codecs.compressai_zoo import (ZOO_CLASSES, Bmshj2018Hyperprior, Cheng2020Anchor,
                                            Cheng2020Attn, CompressAIZoo, Mbt2018Mean, zoo_location)
from rdpbench.codecs.learned import pack_strings, unpack_strings
from rdpbench.errors import BitstreamError, CodecError, WeightsError

SMALL = {"bmshj2018-factorized": (8, 12), "bmshj2018-hyperprior": (8, 12), "mbt2018-mean": (8, 12),
         "mbt2018": (8, 12), "cheng2020-anchor": (8,), "cheng2020-attn": (8,)}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh RDPBENCH_CACHE; TORCH_HOME unset so configure_library_caches places it inside (restored after)."""
    monkeypatch.setenv("RDPBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", "placeholder")
    monkeypatch.delenv("TORCH_HOME")
    return tmp_path / "cache"


def save_random_zoo_weights(cls: type[CompressAIZoo], metric: str = "mse", quality: int = 1, seed: int = 0) -> Path:
    from rdpbench.codecs.random_weights import save_random_zoo_weights as save

    return save(cls.architecture, metric, quality, seed, SMALL[cls.architecture])


@pytest.fixture(scope="module")
def odd_image(request) -> np.ndarray:
    """70x100: not a multiple of 64, so padding and cropping are exercised."""
    kodak = request.getfixturevalue("kodak_image")
    return np.ascontiguousarray(kodak[200:270, 300:400])


def test_string_container_round_trip_and_truncation() -> None:
    levels = [[b"\x01\x02\x03" * 50], [b"zz"]]
    packed = pack_strings(levels)
    assert len(packed) == 150 + 2 + 2  # one 2-byte varint length, the last string runs to the end
    assert unpack_strings(packed, 2) == levels
    with pytest.raises(BitstreamError, match="truncated"):
        unpack_strings(packed[:100], 2)
    with pytest.raises(CodecError):
        pack_strings([[b"a", b"b"]])


def test_zoo_weights_cache_layout(cache: Path) -> None:
    _, path = zoo_location("mbt2018-mean", "ms-ssim", 3)
    assert path == cache / "torch" / "hub" / "checkpoints" / "mbt2018-mean-ms-ssim-3-640ce819.pth.tar"


@pytest.mark.parametrize("cls", ZOO_CLASSES, ids=lambda c: c.architecture)
def test_zoo_round_trip_deterministic(cls: type[CompressAIZoo], cache: Path, odd_image: np.ndarray) -> None:
    save_random_zoo_weights(cls)
    codec = cls({"quality": [1]})
    assert codec.requirements() == ""
    stream = codec.encode(odd_image, {"quality": 1})
    decoded = codec.decode(stream)
    assert decoded.shape == odd_image.shape and decoded.dtype == np.uint8
    sections = codec.sections(stream)
    assert sum(sections.values()) == len(stream)
    assert sections["y"] > 0 and (cls.n_levels == 1 or sections["z"] > 0)
    fresh = cls({"quality": [1]})  # no shared state: same bytes, same pixels
    assert fresh.encode(odd_image, {"quality": 1}) == stream
    assert np.array_equal(fresh.decode(stream), decoded)


def test_zoo_ms_ssim_variant_loads_its_own_file(cache: Path, small_image: np.ndarray) -> None:
    save_random_zoo_weights(Mbt2018Mean, "mse", seed=0)
    save_random_zoo_weights(Mbt2018Mean, "ms-ssim", seed=1)
    mse = Mbt2018Mean({"quality": [1]}).encode(small_image, {"quality": 1})
    msssim = Mbt2018Mean({"quality": [1]}, metric="ms-ssim").encode(small_image, {"quality": 1})
    assert mse != msssim


def test_zoo_decode_in_fresh_process(cache: Path, small_image: np.ndarray) -> None:
    from rdpbench.runners.isolated import decode_in_fresh_process

    save_random_zoo_weights(Bmshj2018Hyperprior)
    codec = Bmshj2018Hyperprior({"quality": [1]})
    stream = codec.encode(small_image, {"quality": 1})
    config = {"_target_": "rdpbench.codecs.compressai_zoo.Bmshj2018Hyperprior", "metric": "mse"}
    assert np.array_equal(decode_in_fresh_process(config, stream), codec.decode(stream))


def test_zoo_missing_weights_offline(cache: Path, small_image: np.ndarray) -> None:
    codec = Cheng2020Attn({"quality": [2]})
    with pytest.raises(CodecError, match="cheng2020_attn-mse-2-"):
        codec.requirements()
    with pytest.raises(WeightsError, match=r"cheng2020_attn-mse-2-.*missing.*https://compressai"):
        codec.encode(small_image, {"quality": 2})


def test_zoo_wrong_checkpoint(tmp_path: Path, small_image: np.ndarray) -> None:
    from compressai.models import FactorizedPrior

    path = tmp_path / "factorized.pth"
    torch.save(FactorizedPrior(8, 12).state_dict(), path)
    codec = Cheng2020Anchor({"quality": [1]}, checkpoint=str(path))
    with pytest.raises(WeightsError, match="cheng2020-anchor"):
        codec.encode(small_image, {"quality": 1})
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="junk.pth"):
        Cheng2020Anchor({"quality": [1]}, checkpoint=str(tmp_path / "junk.pth")).encode(small_image, {"quality": 1})


def test_zoo_corrupt_streams(cache: Path, small_image: np.ndarray) -> None:
    save_random_zoo_weights(Mbt2018Mean)
    codec = Mbt2018Mean({"quality": [1]})
    stream = codec.encode(small_image, {"quality": 1})
    with pytest.raises(BitstreamError):
        codec.decode(stream[:7])  # cut inside the y-string length prefix / y string
    with pytest.raises(BitstreamError):
        Bmshj2018Hyperprior().decode(stream)  # another codec id
    rng = np.random.default_rng(0)
    header_size = codec.sections(stream)["header"]
    for _ in range(5):  # random payloads: an error or a well-formed image, never a crash or hang
        junk = stream[:header_size] + rng.integers(0, 256, len(stream) - header_size, dtype=np.uint8).tobytes()
        try:
            image = codec.decode(junk)
        except BitstreamError:
            continue
        assert image.shape == small_image.shape


def test_msillm_reports_missing_package_or_weights(cache: Path) -> None:
    from rdpbench.codecs.msillm import MSILLM

    with pytest.raises(CodecError, match="neuralcompression|msillm_target_0.035bpp.ckpt"):
        MSILLM({"quality": [1]}).requirements()


def test_msillm_round_trip_random_weights(cache: Path, small_image: np.ndarray) -> None:
    pytest.importorskip("neuralcompression.zoo", reason="neuralcompression not installed (see rdpbench/codecs/msillm.py)")
    from rdpbench.codecs.msillm import MSILLM, release_location

    from rdpbench.codecs.random_weights import save_random_msillm_weights

    arch = {"latent_features": 8, "hyper_features": 8, "num_residual_blocks": 1}
    path = save_random_msillm_weights(2, arch)
    assert path == release_location(2)[1] and path.name == "msillm_target_0.07bpp.ckpt"
    codec = MSILLM({"quality": [2]}, architecture=arch)
    stream = codec.encode(small_image, {"quality": 2})
    decoded = codec.decode(stream)
    assert decoded.shape == small_image.shape
    assert MSILLM({"quality": [2]}, architecture=arch).encode(small_image, {"quality": 2}) == stream
    assert codec.sections(stream)["z"] > 0
    header, op, size = codec.parse_header(stream)
    assert isinstance(header, Header) and op == {"quality": 2}


def test_crc_and_size_checks_refuse_corrupt_streams_before_the_rans_decoder(cache: Path, odd_image: np.ndarray) -> None:
    save_random_zoo_weights(Bmshj2018Hyperprior)
    checked = Bmshj2018Hyperprior({"quality": [1]})
    stream = checked.encode(odd_image, {"quality": 1})
    sections = checked.sections(stream)
    assert sections["check"] == 2 and sum(sections.values()) == len(stream)
    flipped = bytearray(stream)
    flipped[-5] ^= 0x10
    with pytest.raises(BitstreamError, match=r"codec 'compressai-bmshj2018-hyperprior', section 'check': checksum"):
        checked.decode(bytes(flipped))

    bare = Bmshj2018Hyperprior({"quality": [1]}, check_bytes=0)
    stream = bare.encode(odd_image, {"quality": 1})
    header, op, size = bare.parse_header(stream)
    assert np.array_equal(bare.decode(stream), checked.decode(checked.encode(odd_image, {"quality": 1})))
    with pytest.raises(BitstreamError, match=r"section 'z': a rANS string is whole 32-bit words"):
        bare.decode(stream[:-1])
    huge = Header(bare.codec_id, 8000, 6000, header.op_fields).pack()  # one edited size field, same payload
    with pytest.raises(BitstreamError, match=r"section '[yz]': \d+ bytes cannot hold the \d+ latent symbols"):
        bare.decode(huge + stream[size:])
    bare.max_pixels = 5000
    with pytest.raises(BitstreamError, match="section 'header': image size 100x70 exceeds max_pixels=5000"):
        bare.decode(stream)
    with pytest.raises(BitstreamError, match=r"section 'header': operating point out of range"):
        bare.decode(Header(bare.codec_id, 100, 70, (9,)).pack() + stream[size:])
