"""The rate-distortion training loop (CompressAI's loss and optimiser split, a wall-time budget).

The loss is compressai.losses.RateDistortionLoss (lambda * 255^2 * MSE + bpp) and the
optimisers come from compressai.optimizers.net_aux_optimizer, as in CompressAI's
examples/train.py; what is ours is only the stopping rule (steps or minutes,
whichever comes first, because shared CPUs make step times unpredictable) and the log.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from compressai.losses import RateDistortionLoss
from compressai.optimizers import net_aux_optimizer

from rdpbench.training.data import CropBank


@dataclass
class TrainResult:
    steps: int
    wall_seconds: float
    final: dict[str, float]
    log: list[dict[str, float]] = field(default_factory=list)


def train(net: torch.nn.Module, bank: CropBank, device: torch.device, *, lmbda: float, batch_size: int,
          max_steps: int, max_minutes: float, lr: float, aux_lr: float, lr_drop_at: float,
          log_every: int, clip_max_norm: float = 1.0) -> TrainResult:
    """Train `net` in place; drop the learning rate 10x after `lr_drop_at` of the budget."""
    net.to(device).train()
    optimizers = net_aux_optimizer(net, {"net": {"type": "Adam", "lr": lr}, "aux": {"type": "Adam", "lr": aux_lr}})
    optimizer, aux_optimizer = optimizers["net"], optimizers["aux"]
    criterion = RateDistortionLoss(lmbda=lmbda)
    start = time.monotonic()
    budget = max_minutes * 60
    dropped = False
    running: dict[str, float] = {}
    log: list[dict[str, float]] = []
    step = 0
    while step < max_steps and time.monotonic() - start < budget:
        progress = max(step / max_steps, (time.monotonic() - start) / budget)
        if not dropped and progress >= lr_drop_at:
            for group in optimizer.param_groups:
                group["lr"] = lr / 10
            dropped = True
        x = bank.batch(batch_size).to(device)
        optimizer.zero_grad()
        aux_optimizer.zero_grad()
        out = criterion(net(x), x)
        out["loss"].backward()
        if clip_max_norm > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip_max_norm)
        optimizer.step()
        aux_loss = net.aux_loss()
        aux_loss.backward()
        aux_optimizer.step()
        step += 1
        values = {"loss": out["loss"].item(), "bpp": out["bpp_loss"].item(),
                  "psnr": -10 * math.log10(max(out["mse_loss"].item(), 1e-10)), "aux": aux_loss.item()}
        for key, value in values.items():
            running[key] = running.get(key, 0.0) + value
        if step % log_every == 0:
            entry = {"step": step, "minutes": (time.monotonic() - start) / 60,
                     **{k: v / log_every for k, v in running.items()}}
            log.append(entry)
            print(" ".join(f"{k}={v:.4g}" for k, v in entry.items()), flush=True)
            running = {}
    return TrainResult(steps=step, wall_seconds=time.monotonic() - start, final=log[-1] if log else {}, log=log)


def export(net: Any) -> dict[str, torch.Tensor]:
    """CDF tables are built by net.update(force=True) and saved with the weights, so decoders never rebuild them."""
    net.update(force=True)
    return {k: v.detach().cpu() for k, v in net.state_dict().items()}
