"""The Stable Diffusion path end to end, with tiny random models saved in a hub-snapshot layout.

The snapshot directory (unet/, vae/, scheduler/, text_encoder/, tokenizer/, model_index.json)
is loaded by exactly the code that loads runwayml/stable-diffusion-v1-5 from the hub cache.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")

from rdpbench.codecs.diffc import DiffC  # noqa: E402
from rdpbench.diffusion.diffusers_backend import DiffusersDenoiser  # noqa: E402
from rdpbench.errors import WeightsError  # noqa: E402

TINY_VOCAB = ["<|startoftext|>", "<|endoftext|>", "a</w>", "b</w>", "c</w>", "a", "b", "c", "!"]


def write_snapshot(root, prediction_type: str) -> None:
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                         block_out_channels=(32, 32), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                         up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
                         attention_head_dim=4, norm_num_groups=8).save_pretrained(root / "unet")
    AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
                  down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                  norm_num_groups=8, sample_size=16).save_pretrained(root / "vae")
    DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                  prediction_type=prediction_type).save_pretrained(root / "scheduler")
    CLIPTextModel(CLIPTextConfig(vocab_size=len(TINY_VOCAB), hidden_size=16, intermediate_size=32,
                                 num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=16,
                                 bos_token_id=0, eos_token_id=1, pad_token_id=1)).save_pretrained(root / "text_encoder")
    tok_dir = root / "tokenizer_src"
    tok_dir.mkdir()
    (tok_dir / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(TINY_VOCAB)}))
    (tok_dir / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"),
                  model_max_length=16).save_pretrained(root / "tokenizer")
    (root / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """2 shared cores: oversubscribed torch threads make these tiny models ~4x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


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
    traces = codec.trace(image, 4, on_step=lambda tile, k, x: latents.__setitem__((tile, k), x.copy()))
    streams = codec._encode_from_traces(image, [{"steps": 2}, {"steps": 4}], traces)
    assert len(streams[0]) < len(streams[1])
    fresh = DiffC(DiffusersDenoiser(model=str(snapshot), device="cpu"), **options)  # independent decoder
    assert fresh.encode_many(image, [{"steps": 2}, {"steps": 4}]) == streams
    decoded = fresh.decode_latents(streams[1])
    assert len(decoded) == len(codec._boxes(24, 40)) == 2
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


def test_missing_model_is_a_weights_error_naming_it(monkeypatch, tmp_path):
    monkeypatch.setenv("RDPBENCH_OFFLINE", "1")
    monkeypatch.setenv("RDPBENCH_CACHE", str(tmp_path))
    monkeypatch.delenv("HF_HOME", raising=False)
    with pytest.raises(WeightsError, match="no-such-org/no-such-model.*snapshot"):
        DiffusersDenoiser(model="no-such-org/no-such-model", device="cpu").requirements()
