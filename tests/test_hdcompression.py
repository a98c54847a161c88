"""hdcompression: the network's initial identities, the stream, the shipped model, and the full recipe on tiny parts."""

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
TINY_DIMS = {"drv_dim": 4, "drv_width": 8, "drv_steps": 2, "enhancer_width": 8, "enhancer_blocks": 1,
             "predictor_dim": 16, "predictor_layers": 1, "heads": 2}


def tiny_network(block_out_channels=(8, 8), feature_widths=(8,), **tokenizer):
    from rdpbench.models.hdcompression.parts import build_network

    torch.manual_seed(0)
    spec = {"tokenizer": {"_target_": "rdpbench.models.hdcompression.parts.small_tokenizer",
                          "block_out_channels": list(block_out_channels), "latent_channels": 4,
                          "num_vq_embeddings": 16, "norm_num_groups": 4, **tokenizer},
            "dims": {**TINY_DIMS, "feature_widths": list(feature_widths)}}
    return build_network(spec).eval()


def test_untrained_enhancement_and_correction_are_identities():
    """Zero-initialised outputs: before training x_hat_lic = x_hat and the corrected decoder is the tokenizer's."""
    from rdpbench.models.hdcompression.correction import decode_latent

    net = tiny_network()
    g = torch.Generator().manual_seed(1)
    x_hat = torch.rand(1, 3, 32, 48, generator=g)
    with torch.no_grad():
        x_lic, drvs = net.lic_branch(x_hat, seed=0)
        assert torch.equal(x_lic, x_hat)
        indices = net.indices(torch.rand(1, 3, 32, 48, generator=g))
        assert indices.shape == (1, 16, 24) and int(indices.max()) < net.codebook_size
        plain = (decode_latent(net.tokenizer, net.codebook(indices)).clamp(-1, 1) + 1) / 2
        assert torch.allclose(net.reconstruct(indices, net.features(x_lic)), plain, atol=1e-6)
        torch.nn.init.normal_(net.correction.skips[-1].weight, std=0.5)
        assert (net.reconstruct(indices, net.features(x_lic)) - plain).abs().max() > 1e-3
        assert torch.allclose(decode_latent(net.tokenizer, net.codebook(indices)).clamp(-1, 1), plain * 2 - 1,
                              atol=1e-6)  # outside a corrected call the hooks pass through


def test_drv_sampling_is_seeded():
    net = tiny_network()
    x_hat = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b, c = net.sampler(x_hat, 5), net.sampler(x_hat, 5), net.sampler(x_hat, 6)
    assert torch.equal(a.lic, b.lic) and torch.equal(a.index, b.index)
    assert not torch.equal(a.lic, c.lic)


def test_lattice_masks():
    from rdpbench.models.hdcompression.predictor import lattice_mask

    assert int(lattice_mask(6, 9, 3).sum()) == 6 and bool(lattice_mask(6, 9, 3)[0, 0])
    shifted = lattice_mask(6, 9, 3, (1, 2))
    assert bool(shifted[1, 2]) and not bool(shifted[0, 0]) and int(shifted.sum()) == 6
    assert int(lattice_mask(4, 4, 1).sum()) == 16 and int(lattice_mask(4, 4, 0).sum()) == 0


def test_predictor_attends_within_windows():
    """Windowed attention: with the convolutional position encodings zeroed, a window's logits do not
    depend on the tokens of another window, and padded positions do not change the valid ones."""
    from rdpbench.models.hdcompression.predictor import IndexPredictor

    torch.manual_seed(0)
    predictor = IndexPredictor(16, 8, 4, 16, 2, 2, window=4).eval()
    for conv in (predictor.position, predictor.context_position):
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    g = torch.Generator().manual_seed(0)
    indices, known = torch.randint(16, (2, 4, 8), generator=g), torch.rand(2, 4, 8, generator=g) < 0.3
    features, drv = torch.randn(2, 8, 4, 8, generator=g), torch.randn(2, 4, generator=g)
    with torch.no_grad():
        whole = predictor(indices, known, features, drv)
        right = predictor(indices[:, :, 4:], known[:, :, 4:], features[..., 4:], drv)
        padded = predictor(indices[:, :3, :5], known[:, :3, :5], features[:, :, :3, :5], drv)
        inside = predictor(indices[:, :3, :4], known[:, :3, :4], features[:, :, :3, :4], drv)
    assert whole.shape == (2, 16, 4, 8) and padded.shape == (2, 16, 3, 5)
    assert torch.allclose(whole[..., 4:], right, atol=1e-6)
    assert torch.allclose(padded[..., :4], inside, atol=1e-6)
    assert not torch.allclose(whole[..., :4], predictor(indices[:, :, :4], ~known[:, :, :4], features[..., :4], drv))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A model directory holding an untrained tiny network (the codec's real loading path)."""
    from rdpbench.models.hdcompression.network import STAGES
    from rdpbench.models.hdcompression.pretrained import ModelConfig, save_stage

    folder = tmp_path_factory.mktemp("hdc_model")
    net = tiny_network()
    spec = {"tokenizer": {"_target_": "rdpbench.models.hdcompression.parts.small_tokenizer",
                          "block_out_channels": [8, 8], "latent_channels": 4, "num_vq_embeddings": 16,
                          "norm_num_groups": 4}, "dims": {**TINY_DIMS, "feature_widths": [8]}}
    ModelConfig("tiny test model", spec, {"_target_": "rdpbench.codecs.trained.UltraLow"}, (0, 2)).write(folder)
    for stage in STAGES:
        save_stage(folder, net, stage)
    return folder


def tiny_codec(model: Path, ops=None):
    from rdpbench.codecs.hdcompression import HDCompression
    from rdpbench.codecs.trained import UltraLow

    return HDCompression(UltraLow(check_bytes=0), ops=ops or {"step": [4.0], "stride": [1, 2, 3]}, model=str(model))


def test_stream_sections_determinism_and_corruption(tiny_model, small_image):
    codec = tiny_codec(tiny_model)
    image = small_image[:60, :90]  # not a multiple of the tokenizer's factor: padding and cropping
    sizes = {}
    for op in codec.operating_points():
        stream = codec.encode(image, op)
        assert stream == codec.encode(image, op)
        decoded = codec.decode(stream)
        assert decoded.shape == image.shape and np.array_equal(codec.decode(stream), decoded)
        sections = codec.sections(stream)
        assert sum(sections.values()) == len(stream)
        assert sections["lic"] > 0 and sections["mask"] == 1 and sections["check"] == 2
        sizes[op["stride"]] = sections["vq"]
    assert sizes[1] > sizes[2] > sizes[3]  # fewer transmitted indices, fewer bytes
    header_size = codec.parse_header(stream)[2]
    bad = bytearray(stream)
    bad[header_size + codec.sections(stream)["lic"]] = 9  # a lattice phase stride 3 does not have
    with pytest.raises(BitstreamError, match="phase"):
        codec.decode(bytes(bad))
    for cut in (len(stream) - 1, header_size + 3, header_size):
        with pytest.raises(BitstreamError):
            codec.decode(stream[:cut])
    flipped = bytearray(stream)
    flipped[-3] ^= 0x5A
    with pytest.raises(BitstreamError, match="checksum"):
        codec.decode(bytes(flipped))


def test_a_foreign_lic_stream_is_named(tiny_model, small_image):
    from rdpbench.codecs.hdcompression import HDCompression
    from rdpbench.codecs.pillow_codecs import JPEG

    codec = tiny_codec(tiny_model)
    stream = codec.encode(small_image[:32, :32], {"step": 4.0, "stride": 2})
    other = HDCompression(JPEG(), ops={"quality": [10], "stride": [2]}, model=str(tiny_model))
    header_size = codec.parse_header(stream)[2]
    with pytest.raises(BitstreamError, match="ultralow"):
        other.decode_payload(stream[header_size:], other.header_for(32, 32, {"quality": 10, "stride": 2}),
                             {"quality": 10, "stride": 2})


def compose_full_recipe(tmp_path: Path, vqgan: Path, train_dir: Path):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "rdpbench" / "training" / "conf"), version_base="1.3"):
        return compose(config_name="hdcompression_gpu", overrides=[
            f"network.tokenizer.model={vqgan}",
            "network.dims={drv_dim:4,drv_width:8,drv_steps:4,enhancer_width:8,enhancer_blocks:1,"
            "feature_widths:[8,8,8,8],predictor_dim:16,predictor_layers:1,heads:2}",
            f"data.root={train_dir}", "data.crop_size=64", "data.crops_per_image=1",
            *(f"{stage}_stage.{key}" for stage in ("enhancement", "drv", "predictor")
              for key in ("max_steps=2", "batch_size=2", "log_every=1")),
            "device=cpu", "threads=1", f"out_dir={tmp_path / 'model'}", f"work_dir={tmp_path / 'work'}"])


@pytest.fixture(scope="module")
def full_recipe_model(tmp_path_factory):
    """train_hdcompression.py with the full-size recipe's layout (an aMUSEd-style f16 VQModel snapshot with
    codebook lookup, the CompressAI zoo's mbt2018-mean as the LIC stream), every part tiny and random."""
    from diffusers import VQModel
    from PIL import Image

    from rdpbench.codecs.random_weights import save_random_zoo_weights

    tmp = tmp_path_factory.mktemp("hdc_full")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("RDPBENCH_CACHE", str(tmp / "cache"))
    monkeypatch.delenv("TORCH_HOME", raising=False)
    from rdpbench.weights import configure_library_caches

    configure_library_caches()
    save_random_zoo_weights("mbt2018-mean", "mse", 1, 0, (8, 12))
    torch.manual_seed(0)
    VQModel(block_out_channels=(8,) * 5, down_block_types=("DownEncoderBlock2D",) * 5,
            up_block_types=("UpDecoderBlock2D",) * 5, latent_channels=4, num_vq_embeddings=32, norm_num_groups=4,
            lookup_from_codebook=True, mid_block_add_attention=False).save_pretrained(tmp / "vqgan" / "vqvae")
    train_dir = tmp / "train"
    train_dir.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (80, 96, 3), dtype=np.uint8)).save(train_dir / f"photo{i}.png")
    cfg = compose_full_recipe(tmp, tmp / "vqgan", train_dir)
    import train_hdcompression

    try:
        train_hdcompression.main.__wrapped__(cfg)
        yield tmp / "model"
    finally:
        monkeypatch.undo()


def test_full_recipe_trains_and_its_model_codes(full_recipe_model):
    from rdpbench.codecs.compressai_zoo import Mbt2018Mean
    from rdpbench.codecs.hdcompression import HDCompression

    for stage in ("enhancement", "drv", "predictor"):
        record = json.loads((full_recipe_model / f"training_{stage}.json").read_text())
        assert record["steps"] == 2 and all(np.isfinite(e["loss"]) for e in record["log"])
    assert (full_recipe_model / "tokenizer.pth").is_file()  # the public VQGAN, saved as built
    config = json.loads((full_recipe_model / "config.json").read_text())
    assert config["network"]["tokenizer"]["_target_"].endswith("pretrained_tokenizer")
    codec = HDCompression(Mbt2018Mean(check_bytes=0), ops={"quality": [1], "stride": [2]}, model=str(full_recipe_model))
    image = np.random.default_rng(3).integers(0, 255, (48, 80, 3), dtype=np.uint8)
    stream = codec.encode(image, {"quality": 1, "stride": 2})
    decoded = codec.decode(stream)
    assert decoded.shape == image.shape and np.array_equal(codec.decode(stream), decoded)


def test_cpu_recipe_stages_train_resume_and_load_separately(tmp_path):
    """The shipped recipe's four stages with tiny parts, 2 steps each (dead-code restarts every step),
    then the later stages alone in a second invocation: the earlier ones load from out_dir."""
    from hydra import compose, initialize_config_dir
    from PIL import Image

    import train_hdcompression

    train_dir = tmp_path / "train"
    train_dir.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (80, 96, 3), dtype=np.uint8)).save(train_dir / f"photo{i}.png")
    steps = [f"{stage}_stage.{key}" for stage in ("tokenizer", "enhancement", "drv", "predictor")
             for key in ("max_steps=2", "batch_size=2", "log_every=1")]
    overrides = ["network.tokenizer.block_out_channels=[8,8]", "network.tokenizer.latent_channels=4",
                 "network.tokenizer.num_vq_embeddings=16", "network.tokenizer.norm_num_groups=4",
                 "network.dims={drv_dim:4,drv_width:8,drv_steps:4,enhancer_width:8,enhancer_blocks:1,"
                 "feature_widths:[8],predictor_dim:16,predictor_layers:1,heads:2}",
                 f"data.root={train_dir}", "data.crop_size=64", "data.crops_per_image=1",
                 "tokenizer_stage.crop_size=32",
                 "tokenizer_stage.restart_every=1", *steps, "device=cpu", "threads=1",
                 f"out_dir={tmp_path / 'model'}", f"work_dir={tmp_path / 'work'}"]
    with initialize_config_dir(config_dir=str(REPO / "rdpbench" / "training" / "conf"), version_base="1.3"):
        train_hdcompression.main.__wrapped__(compose(config_name="hdcompression_cpu", overrides=overrides))
        first = {s: (tmp_path / "model" / f"{s}.pth").read_bytes() for s in ("tokenizer", "enhancement")}
        again = [o.replace("max_steps=2", "max_steps=3") for o in overrides]
        train_hdcompression.main.__wrapped__(compose(config_name="hdcompression_cpu",
                                                     overrides=[*again, "stages=[drv,predictor]"]))
    for stage, data in first.items():
        assert (tmp_path / "model" / f"{stage}.pth").read_bytes() == data  # loaded, not retrained
    for stage in ("tokenizer", "drv", "predictor"):
        record = json.loads((tmp_path / "model" / f"training_{stage}.json").read_text())
        assert record["steps"] == (2 if stage == "tokenizer" else 3)  # resumed from step 2 to 3
        assert all(np.isfinite(e["loss"]) for e in record["log"])
    codec = tiny_codec(tmp_path / "model", ops={"step": [4.0], "stride": [2]})
    image = rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)
    assert codec.decode(codec.encode(image, {"step": 4.0, "stride": 2})).shape == image.shape


def shipped_model_present() -> bool:
    from rdpbench.models.hdcompression.pretrained import MODEL_DIR, SHIPPED_SHA256

    return bool(SHIPPED_SHA256) and all((MODEL_DIR / name).is_file() for name in SHIPPED_SHA256)


@pytest.mark.skipif(not shipped_model_present(), reason="the shipped hdcompression weights are not in this checkout")
def test_shipped_model_decodes_identically_in_a_fresh_process(tmp_path):
    """run.py codec=hdcompression verify=isolated on a crop of the shipped sample."""
    from sample_runs import run_on_sample_crop

    rows = run_on_sample_crop(tmp_path, ["codec=hdcompression", "codec.ops.step=[4.0]", "codec.ops.stride=[2,4]",
                                         "verify=isolated", "device=cpu"])
    assert len(rows) == 2 and set(rows["verified"]) == {"isolated"}
    assert (rows["bytes_vq"] > 0).all() and (rows["bytes_lic"] > 0).all()


@pytest.mark.skipif(not shipped_model_present(), reason="the shipped hdcompression weights are not in this checkout")
def test_shipped_model_is_trained(small_image):
    """Quality properties a random-weight model fails: the trained prior codes the transmitted indices
    in fewer bits than a uniform code, and the output (1/4 of the indices sent, the rest predicted,
    corrected by the LIC stream) beats the stage-1 tokenizer's decode of the whole *true* index map
    (18.7 dB on this crop; the output 19.4 dB when shipped): the correction learned to use x_hat_lic."""
    from rdpbench.codecs.hdcompression import HDCompression
    from rdpbench.codecs.learned import tensor_to_image
    from rdpbench.codecs.trained import UltraLow
    from rdpbench.metrics.pixel import psnr
    from rdpbench.models.hdcompression.correction import decode_latent
    from rdpbench.models.hdcompression.parts import build_network
    from rdpbench.models.hdcompression.pretrained import MODEL_DIR, ModelConfig, load_stage

    codec = HDCompression(UltraLow(check_bytes=0), ops={"step": [4.0], "stride": [2]})
    stream = codec.encode(small_image, {"step": 4.0, "stride": 2})
    grid = [s // codec.net.factor for s in small_image.shape[:2]]
    sent = -(-grid[0] // 2) * -(-grid[1] // 2)
    assert codec.sections(stream)["vq"] * 8 < 0.9 * sent * np.log2(codec.net.codebook_size)
    tokenizer_net = build_network(ModelConfig.read(MODEL_DIR).network)
    load_stage(MODEL_DIR, tokenizer_net, "tokenizer")
    with torch.no_grad():
        indices = tokenizer_net.eval().indices(codec.padded(small_image))
        plain = (decode_latent(tokenizer_net.tokenizer, tokenizer_net.codebook(indices)).clamp(-1, 1) + 1) / 2
    tokenizer_alone = psnr(small_image, tensor_to_image(plain, *small_image.shape[:2]))
    assert psnr(small_image, codec.decode(stream)) > tokenizer_alone + 0.3
