"""The Stable Diffusion path end to end, with tiny random models saved in a hub-snapshot layout.

The snapshot directory (unet/, vae/, scheduler/, text_encoder/, tokenizer/, model_index.json)
is loaded by exactly the code that loads stable-diffusion-v1-5/stable-diffusion-v1-5 from the hub
cache; an unconditional snapshot (UNet2DModel, no text parts) and a ControlNet go the same way.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")

from rdpbench.codecs.diffc import DiffC  # noqa: E402
from rdpbench.diffusion.conditioning import Condition  # noqa: E402
from rdpbench.diffusion.diffusers_backend import DiffusersDenoiser, load_components  # noqa: E402
from rdpbench.errors import ConfigError, WeightsError  # noqa: E402
from tiny_snapshots import write_controlnet, write_snapshot, write_vae_and_scheduler  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module", params=["epsilon", "v_prediction"])
def snapshot(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"sd-{request.param}")
    write_snapshot(root, request.param)
    return root


def test_diffusers_diffc_round_trip(snapshot):
    options = dict(seed=1, num_steps=4, t_max=999, t_min=200, chunk_kl_bits=6.0, slack_bits=2.0, max_bits=8,
                   decode_steps=3, tile_size=32, tile_overlap=8)
    codec = DiffC(DiffusersDenoiser(model=str(snapshot), device="cpu"), **options)
    assert codec.denoiser.downsample == 2
    image = np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    latents = {}
    codec.trace(image, {"steps": 4}, 4, on_step=lambda tile, k, x: latents.__setitem__((tile, k), x.copy()))
    streams = codec.encode_many(image, [{"steps": 2}, {"steps": 4}])
    assert len(streams[0]) < len(streams[1])
    fresh = DiffC(DiffusersDenoiser(model=str(snapshot), device="cpu"), **options)  # independent decoder
    assert fresh.encode_many(image, [{"steps": 2}, {"steps": 4}]) == streams
    decoded = fresh.decode_latents(streams[1])
    assert len(decoded) == len(codec.grid.boxes(24, 40)) == 2
    for tile, x in enumerate(decoded):
        assert np.array_equal(x, latents[(tile, 4)])
    recon = fresh.decode(streams[1])
    assert recon.shape == image.shape and recon.dtype == np.uint8
    assert sum(fresh.sections(streams[1]).values()) == len(streams[1])


def test_prompt_and_guidance_change_the_prediction(snapshot):
    x = np.random.default_rng(1).standard_normal((4, 4, 4))
    plain = DiffusersDenoiser(model=str(snapshot), device="cpu").predict_x0(x, 500)
    guided = DiffusersDenoiser(model=str(snapshot), device="cpu", prompt="a b", guidance_scale=3.0).predict_x0(x, 500)
    assert plain.shape == x.shape and not np.allclose(plain, guided)


def test_per_image_prompt_reaches_the_unet_and_components_load_once(snapshot):
    x = np.random.default_rng(2).standard_normal((4, 4, 4))
    denoiser = DiffusersDenoiser(model=str(snapshot), device="cpu")
    plain = denoiser.predict_x0(x, 500)
    assert np.array_equal(denoiser.predict_x0(x, 500, Condition(prompt="")), plain)  # "" is the default prompt
    tagged = denoiser.predict_x0(x, 500, Condition(prompt="a b c"))
    assert not np.allclose(tagged, plain)
    other = DiffusersDenoiser(model=str(snapshot), device="cpu", prompt="ignored when cond has one")
    assert np.array_equal(other.predict_x0(x, 500, Condition(prompt="a b c")), tagged)
    assert other.parts is denoiser.parts  # one load per (model, revision, device, dtype) in a process


def test_unconditional_unet2dmodel_snapshot_needs_no_text_parts(tmp_path):
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    UNet2DModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
                down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
                norm_num_groups=8).save_pretrained(tmp_path / "unet")
    write_vae_and_scheduler(tmp_path, "epsilon")
    denoiser = DiffusersDenoiser(model=str(tmp_path), device="cpu")
    assert denoiser.parts.text_encoder is None and denoiser.parts.tokenizer is None
    codec = DiffC(denoiser, seed=0, num_steps=3, t_max=900, t_min=300, chunk_kl_bits=6.0, slack_bits=2.0,
                  max_bits=8, decode_steps=2, tile_size=32, tile_overlap=8)
    image = np.random.default_rng(3).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    stream = codec.encode(image, {"steps": 3})
    assert codec.decode(stream).shape == image.shape


def test_controlnet_is_fed_the_base_reconstruction(snapshot, tmp_path):
    write_controlnet(tmp_path / "controlnet")
    denoiser = DiffusersDenoiser(model=str(snapshot), device="cpu", controlnet=str(tmp_path / "controlnet"))
    x = np.random.default_rng(4).standard_normal((4, 4, 4))
    rng = np.random.default_rng(5)
    hints = [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(2)]
    a, b = (denoiser.predict_x0(x, 500, Condition(base_image=h)) for h in hints)
    assert not np.allclose(a, b)
    assert np.array_equal(a, denoiser.predict_x0(x, 500, Condition(base_image=hints[0])))
    with pytest.raises(ConfigError, match="ControlNet.*base reconstruction"):
        denoiser.predict_x0(x, 500)


def test_missing_model_is_a_weights_error_naming_it(monkeypatch, tmp_path):
    monkeypatch.setenv("RDPBENCH_OFFLINE", "1")
    monkeypatch.setenv("RDPBENCH_CACHE", str(tmp_path))
    monkeypatch.delenv("HF_HOME", raising=False)
    with pytest.raises(WeightsError, match="no-such-org/no-such-model.*hf download.*snapshot"):
        DiffusersDenoiser(model="no-such-org/no-such-model", device="cpu").requirements()
    with pytest.raises(WeightsError, match="no-such-org/no-such-model"):
        load_components("no-such-org/no-such-model", None, torch.device("cpu"), torch.float32)
