"""SPRDiff training, two stages on rdpbench.training.loop.run_steps (budgeted, resumable, logged).

Stage 1, codec: fusion encoder, hyperprior and coarse synthesis with rate + lambda_i x (255^2 MSE +
w x LPIPS) on the coarse image, the rate point i (latent step s_i, lambda_i) drawn per step: one
network for every trained rate (compressai's noisy quantisation of y / s_i, as `ultralow`'s step).
Stage 2, guidance: with the codec frozen, the condition heads, ControlNet-lite and token cross-attention
learn the diffusion loss of the frozen UNet on the VAE latents of the same crops, conditioned on the
*decoded* latent (rounded as the decoder rounds it), t drawn from the part of the schedule the
decoder runs (below strength x T). The paper trains these jointly with an LPIPS-capable GPU budget;
on 2 CPU cores the stages are separate [our reading].
"""

from __future__ import annotations

import math
from typing import Any

import torch

from rdpbench.training.data import CropBank
from rdpbench.training.loop import Checkpoint, GeneratorState, TrainResult, run_steps, warmup_cosine_lr


def codec_parameters(net: Any) -> list[torch.nn.Parameter]:
    parts = [net.fusion, net.h_a, net.h_s, net.entropy_bottleneck, net.reconstruction.synthesis]
    return [p for part in parts for name, p in part.named_parameters() if not name.endswith("quantiles")]


def guidance_parameters(net: Any) -> list[torch.nn.Parameter]:
    heads = [m for name, m in net.reconstruction.named_children() if name != "synthesis"]
    modules = [*heads, net.guided.control, net.guided.cross, *([net.guided.context] if net.guided.context else [])]
    return [p for m in modules for p in m.parameters()] + [net.reconstruction.position]


def bpp(likelihoods: dict[str, torch.Tensor], pixels: int) -> torch.Tensor:
    return sum(-torch.log2(v).sum() for v in likelihoods.values()) / pixels


def train_codec(net: Any, bank: CropBank, device: torch.device, checkpoint_path: Any, *, rate_steps: list[float],
                lambdas: list[float], perceptual: Any, perceptual_weight: float, batch_size: int, max_steps: int,
                max_minutes: float, lr: float, aux_lr: float, log_every: int, checkpoint_minutes: float) -> TrainResult:
    net.to(device).train()
    params = codec_parameters(net)
    optimizer = torch.optim.Adam(params, lr=lr)
    aux_optimizer = torch.optim.Adam([net.entropy_bottleneck.quantiles], lr=aux_lr)
    draws = torch.Generator().manual_seed(int(bank.generator.initial_seed()) + 2)
    checkpoint = Checkpoint(checkpoint_path, checkpoint_minutes,
                            {"net": net, "optimizer": optimizer, "aux": aux_optimizer,
                             "bank": GeneratorState(bank.generator), "draws": GeneratorState(draws)})

    def step(_: int, progress: float) -> dict[str, float]:
        for group in optimizer.param_groups:
            group["lr"] = lr / 10 if progress >= 0.8 else lr
        i = int(torch.randint(len(rate_steps), (1,), generator=draws))
        x = bank.batch(batch_size).to(device)
        out = net(x, rate_steps[i])
        coarse = out["conditions"].coarse
        rate = bpp(out["likelihoods"], x.shape[0] * x.shape[2] * x.shape[3])
        mse = (coarse - x).pow(2).mean()
        distortion = 255 ** 2 * mse
        if perceptual is not None and perceptual_weight > 0:
            distortion = distortion + perceptual_weight * perceptual(coarse * 2 - 1, x * 2 - 1).mean()
        loss = rate + lambdas[i] * distortion
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        aux_optimizer.zero_grad(set_to_none=True)
        aux = net.entropy_bottleneck.loss()
        aux.backward()
        aux_optimizer.step()
        # means over the rate points drawn (the Kodak table of the model card has them per point)
        return {"loss": loss.item(), "bpp": rate.item(), "psnr": -10 * math.log10(max(mse.item(), 1e-10)),
                "aux": aux.item()}

    return run_steps(step, max_steps=max_steps, max_minutes=max_minutes, log_every=log_every,
                     checkpoint=checkpoint, desc="sprdiff codec")


def train_guidance(net: Any, scheduler: Any, bank: CropBank, device: torch.device, checkpoint_path: Any, *,
                   rate_steps: list[float], strength: float, batch_size: int, max_steps: int, max_minutes: float,
                   lr: float, log_every: int, checkpoint_minutes: float) -> TrainResult:
    net.to(device).eval()  # the codec part and every frozen part stay in eval mode
    params = guidance_parameters(net)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    draws = torch.Generator().manual_seed(int(bank.generator.initial_seed()) + 3)
    checkpoint = Checkpoint(checkpoint_path, checkpoint_minutes,
                            {"net": net, "optimizer": optimizer, "bank": GeneratorState(bank.generator),
                             "draws": GeneratorState(draws)})
    t_max = max(1, int(strength * scheduler.config.num_train_timesteps))

    def step(_: int, progress: float) -> dict[str, float]:
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine_lr(lr, progress, 0.0)
        i = int(torch.randint(len(rate_steps), (1,), generator=draws))
        x = bank.batch(batch_size).to(device)
        with torch.no_grad():
            y_hat = net.quantized_latent(x, rate_steps[i], training=False)[0]  # as the decoder rounds it
            x0 = net.vae_latent(x)
        noise = torch.randn(x0.shape, generator=draws).to(device)
        t = torch.randint(t_max, (x0.shape[0],), generator=draws).to(device)
        x_t = scheduler.add_noise(x0, noise, t)
        target = scheduler.get_velocity(x0, noise, t) if scheduler.config.prediction_type == "v_prediction" else noise
        loss = (net.guided(x_t, t, net.reconstruction(y_hat)) - target).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        return {"loss": loss.item()}

    return run_steps(step, max_steps=max_steps, max_minutes=max_minutes, log_every=log_every,
                     checkpoint=checkpoint, desc="sprdiff guidance")
