"""Tiny random-weight diffusion snapshots in the real hub layout (unet/ vae/ scheduler/ text_encoder/
tokenizer/ model_index.json), shared by the tests of every codec on the diffusers backend."""

from __future__ import annotations

import json

import torch

TINY_VOCAB = ["<|startoftext|>", "<|endoftext|>", "a</w>", "b</w>", "c</w>", "a", "b", "c", "!"]


def tiny_unet():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(32, 32), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
                                attention_head_dim=4, norm_num_groups=8)


def write_vae_and_scheduler(root, prediction_type: str) -> None:
    from diffusers import AutoencoderKL, DDPMScheduler

    AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
                  down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                  norm_num_groups=8, sample_size=16).save_pretrained(root / "vae")
    DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                  prediction_type=prediction_type).save_pretrained(root / "scheduler")


def write_snapshot(root, prediction_type: str) -> None:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    tiny_unet().save_pretrained(root / "unet")
    write_vae_and_scheduler(root, prediction_type)
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



def write_controlnet(path) -> None:
    """A ControlNet for tiny_unet(); its zero-initialised convolutions are randomised so the hint shows."""
    from diffusers import ControlNetModel

    torch.manual_seed(0)
    net = ControlNetModel.from_unet(tiny_unet(), conditioning_embedding_out_channels=(8, 8))
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    net.save_pretrained(path)
