"""sprdiff: the network's initial identities, the shipped model end to end, and the full recipe on tiny parts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("compressai")
pytest.importorskip("diffusers")

from rdpbench.errors import BitstreamError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def write_tiny_dinov2(path: Path) -> None:
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    Dinov2Model(Dinov2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                             patch_size=14, image_size=28)).save_pretrained(path)


@pytest.fixture(scope="module")
def mini_net():
    """An untrained network on the shipped ultralow and mini-ldm (the frozen parts of the offline variant)."""
    from rdpbench.models.sprdiff.parts import build_network

    spec = {"base": {"_target_": "rdpbench.models.sprdiff.parts.ultralow_base"},
            "diffusion": {"_target_": "rdpbench.models.sprdiff.parts.diffusion_parts", "model": None},
            "semantic": None, "dims": {"fusion_width": 16, "pixel_channels": 8, "tokens": 4, "token_dim": 16,
                                       "control_width": 16, "heads": 2}}
    torch.manual_seed(0)
    net, scheduler = build_network(spec, "cpu")
    return net.eval(), scheduler


def test_untrained_network_is_its_base_codec(mini_net):
    """Zero-initialised fusion and hyper-input channels: before training, y and the coarse image are
    exactly the base codec's (training starts from `ultralow`, not from noise)."""
    from rdpbench.models.sprdiff.parts import ultralow_base

    net, _ = mini_net
    base = ultralow_base().eval()
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y, hyper_input = net.analysis(x)
        assert torch.equal(y, base.g_a(x))
        assert torch.allclose(net.h_a(hyper_input), base.h_a(y), atol=1e-5)
        assert torch.allclose(net.reconstruction(y).coarse, base.g_s(y).clamp(0, 1), atol=1e-6)


def test_guidance_hooks_act_only_through_trained_branches(mini_net):
    """At init the guided UNet is the frozen UNet; once the zero-initialised outputs move, the pixel
    condition and the tokens change its prediction; outside a guided call the hooks do nothing."""
    from rdpbench.models.sprdiff.network import Conditions

    net, _ = mini_net
    unet = net.guided.unet
    g = torch.Generator().manual_seed(2)
    x_t, t = torch.randn(1, 4, 8, 8, generator=g), torch.tensor([300])
    cond = Conditions(torch.zeros(1, 3, 64, 64), torch.randn(1, 8, 8, 8, generator=g), torch.randn(1, 4, 16, generator=g))
    with torch.no_grad():
        plain = unet(x_t, t).sample
        assert torch.allclose(net.guided(x_t, t, cond), plain, atol=1e-6)
        saved = {k: v.clone() for k, v in net.guided.state_dict().items() if not k.startswith("unet.")}
        try:
            for conv in [*net.guided.control.skip_out, net.guided.control.mid_out]:
                torch.nn.init.normal_(conv.weight, std=0.1)
            torch.nn.init.normal_(net.guided.cross.attention.out_proj.weight, std=0.1)
            guided = net.guided(x_t, t, cond)
            assert (guided - plain).abs().max() > 1e-3
            other = Conditions(cond.coarse, cond.pixel * -1, cond.tokens)
            assert (net.guided(x_t, t, other) - guided).abs().max() > 1e-4
            assert torch.equal(unet(x_t, t).sample, plain)  # no guided call active: hooks pass through
        finally:
            net.guided.load_state_dict(saved, strict=False)


def compose_full_recipe(tmp_path: Path, snapshot: Path, dinov2: Path, train_dir: Path):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "rdpbench" / "training" / "conf"), version_base="1.3"):
        return compose(config_name="sprdiff_gpu", overrides=[
            "network.base._target_=rdpbench.models.sprdiff.parts.random_base", "~network.base.architecture",
            "~network.base.quality", f"network.diffusion.model={snapshot}", "network.diffusion.revision=null",
            f"network.semantic.model={dinov2}",
            "network.dims={fusion_width:8,pixel_channels:4,tokens:4,token_dim:8,control_width:8,heads:2}",
            "+perceptual.pretrained=false", "+perceptual.pnet_rand=true",
            f"data.root={train_dir}", "data.crop_size=64", "data.crops_per_image=1",
            "codec_stage.max_steps=2", "codec_stage.batch_size=2", "codec_stage.log_every=1",
            "guidance_stage.max_steps=2", "guidance_stage.batch_size=2", "guidance_stage.log_every=1",
            "device=cpu", "threads=1", f"out_dir={tmp_path / 'model'}", f"work_dir={tmp_path / 'work'}"])


@pytest.fixture(scope="module")
def full_recipe_model(tmp_path_factory):
    """train_sprdiff.py with the full-size recipe's layout (SD-style UNet2DConditionModel snapshot,
    DINOv2, LPIPS, a CompressAI mean-scale hyperprior), every part tiny and random, 2 steps per stage."""
    from PIL import Image

    from tiny_snapshots import write_snapshot

    tmp = tmp_path_factory.mktemp("sprdiff_full")
    snapshot, dinov2, train_dir = tmp / "sd", tmp / "dinov2", tmp / "train"
    write_snapshot(snapshot, "epsilon")
    write_tiny_dinov2(dinov2)
    train_dir.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (80, 96, 3), dtype=np.uint8)).save(train_dir / f"photo{i}.png")
    cfg = compose_full_recipe(tmp, snapshot, dinov2, train_dir)
    import train_sprdiff

    train_sprdiff.main.__wrapped__(cfg)
    return tmp / "model"


def test_full_recipe_trains_and_its_model_codes(full_recipe_model):
    from rdpbench.codecs.sprdiff import SPRDiff

    record = json.loads((full_recipe_model / "training.json").read_text())
    assert record["codec"]["steps"] == 2 and record["guidance"]["steps"] == 2
    assert all(np.isfinite(entry["loss"]) for entry in record["codec"]["log"] + record["guidance"]["log"])
    config = json.loads((full_recipe_model / "config.json").read_text())
    assert config["network"]["semantic"]["_target_"].endswith("DinoV2Features")
    codec = SPRDiff(ops={"rate": [0, 3], "steps": [0, 2]}, model=str(full_recipe_model))
    image = np.random.default_rng(3).integers(0, 255, (48, 80, 3), dtype=np.uint8)
    for op in codec.operating_points():
        stream = codec.encode(image, op)
        decoded = codec.decode(stream)
        assert decoded.shape == image.shape
        assert np.array_equal(codec.decode(stream), decoded)
        sections = codec.sections(stream)
        assert sum(sections.values()) == len(stream) and sections["y"] > 0 and sections["z"] > 0
    with pytest.raises(BitstreamError):
        codec.decode(stream[: len(stream) // 2])


def test_rate_point_beyond_the_model_is_refused(full_recipe_model):
    from rdpbench.codecs.sprdiff import SPRDiff
    from rdpbench.errors import ConfigError

    with pytest.raises(ConfigError, match="trained rate points"):
        SPRDiff(ops={"rate": [4], "steps": [0]}, model=str(full_recipe_model))


def shipped_model_present() -> bool:
    from rdpbench.models.sprdiff.pretrained import MODEL_DIR, SHIPPED_SHA256

    return bool(SHIPPED_SHA256) and all((MODEL_DIR / name).is_file() for name in SHIPPED_SHA256)


@pytest.mark.skipif(not shipped_model_present(), reason="the shipped sprdiff weights are not in this checkout")
def test_shipped_model_decodes_identically_in_a_fresh_process(tmp_path):
    """run.py codec=sprdiff verify=isolated on a Kodak-sized crop of the shipped sample."""
    from sample_runs import run_on_sample_crop

    rows = run_on_sample_crop(tmp_path, ["codec=sprdiff", "codec.ops.rate=[2]", "codec.ops.steps=[0,4]",
                                         "verify=isolated", "device=cpu"])
    assert len(rows) == 2 and set(rows["verified"]) == {"isolated"}
    assert rows.loc[rows["op_label"] == "rate=2,steps=0", "bpp"].iloc[0] < 0.03


@pytest.mark.skipif(not shipped_model_present(), reason="the shipped sprdiff weights are not in this checkout")
def test_shipped_guidance_is_trained():
    """The trained guidance (ControlNet-lite + tokens) makes the diffusion output closer to the original
    than the frozen UNet alone (its zero-initialised state): +1.0 dB on this crop when shipped."""
    from rdpbench.codecs.sprdiff import SPRDiff
    from rdpbench.data.images import load_image
    from rdpbench.metrics.pixel import psnr

    image = load_image(REPO / "rdpbench" / "data" / "sample" / "kodim04_half.png")[0][:256, :256]
    codec = SPRDiff(ops={"rate": [0], "steps": [6]})
    stream = codec.encode(image, {"rate": 0, "steps": 6})
    trained = psnr(image, codec.decode(stream))
    guided = codec.net({"rate": 0, "steps": 6}).guided
    for layer in [*guided.control.skip_out, guided.control.mid_out, guided.cross.attention.out_proj]:
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    assert trained > psnr(image, codec.decode(stream)) + 0.5
