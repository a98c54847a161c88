"""mini-ldm: a small latent diffusion model (diffusers AutoencoderKL + unconditional UNet2DModel).

Two stages on rdpbench.training.loop.run_steps (budgeted, progress bar, resumable checkpoints):
1. the autoencoder, on pixel crops: MSE in [-1, 1] plus a small KL term (the SD VAE's objective
   without its LPIPS and GAN terms, which a CPU budget cannot afford);
2. the noise-prediction UNet on the frozen autoencoder's latents (posterior *mean* times the
   scaling factor, exactly what rdpbench's DiffusersDenoiser.to_latent feeds DiffC), with the
   standard 1000-step DDPM schedule, epsilon loss and an EMA of the weights (diffusers EMAModel).
The result is saved as a diffusers snapshot (unet/ vae/ scheduler/ model_index.json), so
`codec.denoiser.model=<dir>` loads it like any hub model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rdpbench.training.data import CropBank
from rdpbench.training.loop import Checkpoint, GeneratorState, TrainResult, run_steps, warmup_cosine_lr


def train_autoencoder(vae: Any, bank: CropBank, device: torch.device, checkpoint_path: Path | None, *,
                      batch_size: int, max_steps: int, max_minutes: float, lr: float, warmup: float,
                      kl_weight: float, log_every: int, checkpoint_minutes: float) -> TrainResult:
    vae.to(device).train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    noise = torch.Generator().manual_seed(int(bank.generator.initial_seed()) + 1)
    checkpoint = Checkpoint(checkpoint_path, checkpoint_minutes,
                            {"vae": vae, "optimizer": optimizer, "bank": GeneratorState(bank.generator),
                             "noise": GeneratorState(noise)})

    def step(_: int, progress: float) -> dict[str, float]:
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine_lr(lr, progress, warmup)
        x = bank.batch(batch_size).mul_(2).sub_(1).to(device)
        posterior = vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=noise).to(device)
        mse = (vae.decode(z).sample - x).pow(2).mean()
        kl = posterior.kl().mean() / x[0].numel()  # per pixel value, like the MSE
        loss = mse + kl_weight * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        return {"loss": loss.item(), "psnr": 10 * np.log10(4 / max(mse.item(), 1e-10)), "kl": kl.item()}

    return run_steps(step, max_steps=max_steps, max_minutes=max_minutes, log_every=log_every,
                     checkpoint=checkpoint, desc="autoencoder")


@torch.no_grad()
def encode_bank(vae: Any, bank: CropBank, device: torch.device, batch_size: int = 32) -> torch.Tensor:
    """Posterior means of every crop and of its mirror image (the UNet's data, flips included)."""
    vae.to(device).eval()
    means = []
    for start in range(0, len(bank), batch_size):
        x = bank.crops[start:start + batch_size].float().div_(127.5).sub_(1).to(device)
        for batch in (x, x.flip(-1)):
            means.append(vae.encode(batch).latent_dist.mean.cpu())
    return torch.cat(means)


def latent_scaling(latents: torch.Tensor) -> float:
    """1 / std of the latents, so the diffusion sees unit variance (the SD VAE's 0.18215 came this way)."""
    return float(1.0 / latents.std())


def train_unet(unet: Any, scheduler: Any, latents: torch.Tensor, device: torch.device, checkpoint_path: Path | None,
               seed: int, *, batch_size: int, max_steps: int, max_minutes: float, lr: float, warmup: float,
               ema_decay: float, log_every: int, checkpoint_minutes: float) -> tuple[TrainResult, Any]:
    """Epsilon-prediction training on scaled latents; returns the result and the EMA (its weights ship)."""
    from diffusers.training_utils import EMAModel

    unet.to(device).train()
    optimizer = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    ema = EMAModel(unet.parameters(), decay=ema_decay, use_ema_warmup=True, power=0.75)
    draws = torch.Generator().manual_seed(seed)
    checkpoint = Checkpoint(checkpoint_path, checkpoint_minutes,
                            {"unet": unet, "optimizer": optimizer, "ema": ema, "draws": GeneratorState(draws)})
    alphas = scheduler.alphas_cumprod

    def step(_: int, progress: float) -> dict[str, float]:
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine_lr(lr, progress, warmup)
        x0 = latents[torch.randint(len(latents), (batch_size,), generator=draws)]
        eps = torch.randn(x0.shape, generator=draws)
        t = torch.randint(scheduler.config.num_train_timesteps, (batch_size,), generator=draws)
        x_t = scheduler.add_noise(x0, eps, t)
        loss = (unet(x_t.to(device), t.to(device)).sample - eps.to(device)).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        ema.step(unet.parameters())
        # the loss at large t is dominated by noise; the x0 error of low-noise steps says more
        return {"loss": loss.item(), "abar_mean": float(alphas[t].mean())}

    result = run_steps(step, max_steps=max_steps, max_minutes=max_minutes, log_every=log_every,
                       checkpoint=checkpoint, desc="unet")
    return result, ema


def save_snapshot(out_dir: Path, vae: Any, unet: Any, scheduler: Any, dtype: str = "float32") -> None:
    """The diffusers layout DiffusersDenoiser loads (and diffusers' own from_pretrained per part).

    `dtype` is the storage precision; from_pretrained(torch_dtype=...) casts on load.
    """
    import copy

    import diffusers

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, model in (("vae", vae), ("unet", unet)):
        copy.deepcopy(model).to(getattr(torch, dtype)).save_pretrained(out_dir / name)
    scheduler.save_pretrained(out_dir / "scheduler")
    index = {"_class_name": "MiniLDM", "_diffusers_version": diffusers.__version__,
             "vae": ["diffusers", type(vae).__name__], "unet": ["diffusers", type(unet).__name__],
             "scheduler": ["diffusers", type(scheduler).__name__]}
    (out_dir / "model_index.json").write_text(json.dumps(index, indent=1) + "\n")


@torch.no_grad()
def sample_grid(vae: Any, unet: Any, scheduler: Any, path: Path, *, rows: int, cols: int, steps: int,
                seed: int) -> None:
    """Unconditional DDIM samples (diffusers LDMPipeline, which takes any autoencoder with decode()) as one PNG."""
    from diffusers import DDIMScheduler, LDMPipeline
    from PIL import Image

    pipe = LDMPipeline(vqvae=vae.eval(), unet=unet.eval(), scheduler=DDIMScheduler.from_config(scheduler.config))
    pipe.set_progress_bar_config(disable=True)
    images = pipe(batch_size=rows * cols, generator=torch.Generator().manual_seed(seed), num_inference_steps=steps,
                  eta=0.0, output_type="np").images
    size = images.shape[1]  # the UNet's sample_size times the autoencoder's downsampling
    tiles = (np.clip(images, 0, 1) * 255).round().astype(np.uint8)
    grid = tiles.reshape(rows, cols, size, size, 3).transpose(0, 2, 1, 3, 4).reshape(rows * size, cols * size, 3)
    Image.fromarray(grid).save(path)
