"""DiffC codec with the analytic Gaussian denoiser: bitstream contract, determinism, independence, errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from rdpbench.codecs.diffc import DiffC
from rdpbench.diffusion.gaussian import GaussianDenoiser
from rdpbench.errors import BitstreamError, CodecError, ConfigError
from rdpbench.paths import datasets_dir

KODAK = datasets_dir() / "kodak" / "kodim23.png"
SMALL = dict(seed=3, num_steps=8, t_max=640, t_min=300, chunk_kl_bits=6.0, slack_bits=2.0, max_bits=9,
             decode_steps=20, tile_size=64, tile_overlap=8)


def small_codec(**overrides) -> DiffC:
    return DiffC(GaussianDenoiser(), **{**SMALL, **overrides})


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    from PIL import Image

    if KODAK.exists():
        return np.asarray(Image.open(KODAK).convert("RGB"))[220:252, 300:348].copy()
    return np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def streams(image) -> list[bytes]:
    return small_codec().encode_many(image, [{"steps": k} for k in (2, 5, 8)])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


def test_every_prefix_is_a_stream_and_rate_grows(image, streams):
    codec = small_codec()
    assert codec.encode(image, {"steps": 5}) == streams[1]  # one-op encode == that op of encode_many
    sizes = [len(s) for s in streams]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    quality = [psnr(image, codec.decode(s)) for s in streams]
    assert quality[-1] > quality[0] + 3
    for s in streams:
        parts = codec.sections(s)
        assert sum(parts.values()) == len(s) and set(parts) == {"header", "side", "rcc", "check"}
        assert parts["side"] > 0 and parts["check"] == 1 and parts["rcc"] >= 0


def test_bitstreams_are_byte_identical_across_runs(image, streams):
    assert small_codec().encode_many(image, [{"steps": k} for k in (2, 5, 8)]) == streams
    assert small_codec(seed=4).encode(image, {"steps": 8}) != streams[-1]


def test_fresh_process_reproduces_the_encoder_latent(image, tmp_path):
    """The decoder, in another process with only the stream file, reaches the encoder's x_{t_k} bit-exactly."""
    codec = small_codec()
    latents = {}
    codec.trace(image, {"steps": 6}, 6, on_step=lambda tile, k, x: latents.__setitem__((tile, k), x.copy()))
    stream = codec.encode(image, {"steps": 6})
    (tmp_path / "s.bin").write_bytes(stream)
    script = textwrap.dedent("""
        import json, sys, numpy as np
        from rdpbench.codecs.diffc import DiffC
        from rdpbench.diffusion.gaussian import GaussianDenoiser
        codec = DiffC(GaussianDenoiser(), **json.loads(sys.argv[2]))
        data = open(sys.argv[1] + "/s.bin", "rb").read()
        np.save(sys.argv[1] + "/latent.npy", np.stack(codec.decode_latents(data)))
        np.save(sys.argv[1] + "/image.npy", codec.decode(data))
    """)
    subprocess.run([sys.executable, "-c", script, str(tmp_path), json.dumps(SMALL)], check=True, timeout=120,
                   cwd=Path(__file__).resolve().parents[1])
    decoded = np.load(tmp_path / "latent.npy")
    assert decoded.shape[0] == 1
    assert np.array_equal(decoded[0], latents[(0, 6)])  # bit-exact, not allclose
    assert np.array_equal(np.load(tmp_path / "image.npy"), codec.decode(stream))


@pytest.mark.parametrize("damage", ["flip_rcc", "flip_side", "truncate_1", "truncate_half", "append", "header_only"])
def test_damaged_streams_raise_bitstream_error(streams, damage):
    codec = small_codec()
    stream = bytearray(streams[-1])
    size = codec.sections(bytes(stream))["header"]
    if damage == "flip_rcc":
        stream[-3] ^= 0x10
    elif damage == "flip_side":
        stream[size] ^= 0x01
    elif damage == "truncate_1":
        stream = stream[:-1]
    elif damage == "truncate_half":
        stream = stream[:len(stream) // 2]
    elif damage == "append":
        stream += b"\x00"
    else:
        stream = stream[:size]
    with pytest.raises(BitstreamError):
        codec.decode(bytes(stream))


def test_steps_beyond_the_schedule_are_refused(image):
    with pytest.raises(ConfigError):
        small_codec().encode(image, {"steps": 9})
    with pytest.raises(CodecError):
        small_codec(num_steps=4).decode(small_codec().encode(image, {"steps": 6}))


def test_large_images_are_tiled_and_blended(image):
    """Tile size 32 with 8 px overlap on a 32 x 96 image: 1 x 4 tiles, each with its own seed stream and side info."""
    wide = np.concatenate([image, image[:, ::-1]], axis=1)  # 32 x 96
    tiled, whole = small_codec(tile_size=32, tile_overlap=8), small_codec(tile_size=128)
    assert len(tiled.grid.boxes(*wide.shape[:2])) == 4 and len(whole.grid.boxes(*wide.shape[:2])) == 1
    stream = tiled.encode(wide, {"steps": 8})
    parsed = tiled.read_stream(stream)
    codes, parts = [t.kl_codes for t in parsed.rcc.tiles], parsed.sections
    assert len(codes) == 4 and all(len(c) == 8 for c in codes) and len({tuple(c) for c in codes}) > 1
    assert 0 < parts["side"] < 4 * 8  # one KL code per tile per step, entropy-coded: < 1 byte each
    recon = tiled.decode(stream)
    assert recon.shape == wide.shape
    assert psnr(wide, recon) > psnr(wide, whole.decode(whole.encode(wide, {"steps": 8}))) - 3


def test_hydra_composes_the_gaussian_variant():
    """`codec=diffc codec/denoiser=gaussian` retunes the codec through the denoiser, also inside a suite."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    conf = Path(__file__).resolve().parents[1] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        # device=cpu: outside the runner nothing resolves device=auto (components refuse it)
        cfg = compose(config_name="config", overrides=["codec=diffc", "codec/denoiser=gaussian", "device=cpu"])
        sd = compose(config_name="config", overrides=["codec=diffc", "device=cpu"])
    assert cfg.codec.denoiser._target_ == "rdpbench.diffusion.gaussian.GaussianDenoiser"
    assert sd.codec.denoiser.model == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert set(cfg.codec) == set(sd.codec)  # the denoiser group only fills codec.denoiser
    codec = instantiate(cfg.codec, _convert_="all")
    assert isinstance(codec, DiffC) and isinstance(codec.denoiser, GaussianDenoiser)
    defaults = GaussianDenoiser.codec_defaults
    assert codec.config()["rcc"]["max_bits"] == defaults["max_bits"]
    assert codec.operating_points() == [{"steps": k} for k in defaults["ops"]["steps"]]
    assert codec.knob("steps").high == defaults["num_steps"]
    sd_codec = instantiate(sd.codec, _convert_="all")  # builds without weights: loading is lazy
    assert sd_codec.config()["num_steps"] == 40 and sd_codec.config()["denoiser"]["backend"] == "diffusers"


def test_harness_isolated_decoder_reproduces_the_image(image, streams):
    """The runner's `verify=isolated` path builds the codec from its plain config in a fresh process."""
    from rdpbench.runners.isolated import decode_in_fresh_process

    config = {"_target_": "rdpbench.codecs.diffc.DiffC",
              "denoiser": {"_target_": "rdpbench.diffusion.gaussian.GaussianDenoiser"}, **SMALL}
    assert np.array_equal(decode_in_fresh_process(config, streams[-1]), small_codec().decode(streams[-1]))
