"""Training loops: a generic budgeted, resumable step loop and the rate-distortion recipe on it.

`run_steps` is the part every recipe shares (ultralow here, mini-ldm in rdpbench.training.ldm):
the stopping rule (steps or minutes, whichever comes first, because shared CPUs make step times
unpredictable), a tqdm progress bar, the averaged log and periodic atomic checkpoints to resume from.
For ultralow the loss is compressai.losses.RateDistortionLoss (lambda * 255^2 * MSE + bpp) and the
optimisers come from compressai.optimizers.net_aux_optimizer, as in CompressAI's examples/train.py.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from compressai.losses import RateDistortionLoss
from compressai.optimizers import net_aux_optimizer
from tqdm import tqdm

from rdpbench.training.data import CropBank


@dataclass(frozen=True)
class TrainingRun:
    """What every training script resolves first: the device (once), the photos, where to write."""

    device: torch.device
    device_name: str  # what components are given (the device class)
    data_root: Path
    work_dir: Path
    out_dir: Path


def start(cfg: Any) -> TrainingRun:
    """Seed, thread count and device of a recipe (`seed`, `threads`, `device`, `data.root` (null: the data
    root's train/), `work_dir`, `out_dir`), paths relative to where the command was started."""
    from hydra.utils import to_absolute_path

    from rdpbench.device import DevicePolicy
    from rdpbench.paths import training_photos

    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    policy = DevicePolicy.resolve(cfg.device)
    device = torch.device(policy.activate())
    root = Path(to_absolute_path(cfg.data.root)) if cfg.data.root else training_photos()
    return TrainingRun(device, policy.name, root, Path(to_absolute_path(cfg.work_dir)),
                       Path(to_absolute_path(cfg.out_dir)))


@dataclass
class TrainResult:
    steps: int
    wall_seconds: float
    final: dict[str, float]
    log: list[dict[str, float]] = field(default_factory=list)


class Checkpoint:
    """One resumable training stage in one file: the state_dicts of `parts` plus the loop's progress.

    Saved atomically (temp file + os.replace) so a kill mid-save keeps the previous checkpoint;
    `parts` are anything with state_dict/load_state_dict (modules, optimisers, EMA, GeneratorState).
    """

    def __init__(self, path: str | Path | None, every_minutes: float, parts: dict[str, Any]) -> None:
        self.path = Path(path) if path else None
        self.every_minutes = every_minutes
        self.parts = parts

    def load(self) -> dict[str, Any]:
        """The saved progress ({} when there is none) after restoring every part in place."""
        if self.path is None or not self.path.is_file():
            return {}
        state = torch.load(self.path, map_location="cpu", weights_only=False)
        for name, part in self.parts.items():
            part.load_state_dict(state["parts"][name])
        return state["progress"]

    def save(self, progress: dict[str, Any]) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        torch.save({"parts": {name: part.state_dict() for name, part in self.parts.items()},
                    "progress": progress}, tmp)
        os.replace(tmp, self.path)


class GeneratorState:
    """A torch.Generator seen as a checkpoint part, so a resumed run draws what it would have drawn."""

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"state": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["state"])


def warmup_cosine_lr(base: float, progress: float, warmup: float) -> float:
    """Linear warm-up then cosine decay to 10 %: short budgets need the decay to end well."""
    if progress < warmup:
        return base * max(progress / warmup, 0.01)
    return base * (0.1 + 0.45 * (1 + math.cos(math.pi * (progress - warmup) / (1 - warmup))))


def run_steps(step: Callable[[int, float], dict[str, float]], *, max_steps: int, max_minutes: float,
              log_every: int, checkpoint: Checkpoint | None = None, desc: str = "train") -> TrainResult:
    """Call `step(step_index, progress)` until `max_steps` or `max_minutes` of training time, whichever first.

    progress in [0, 1] is the larger of the step and time fractions (for schedules); the values a
    step returns are averaged over `log_every` steps into the log. With a checkpoint, the loop
    resumes from it (training time included) and saves it every `checkpoint.every_minutes` and at the end.
    """
    resumed = checkpoint.load() if checkpoint else {}
    done, spent = int(resumed.get("step", 0)), float(resumed.get("seconds", 0.0))
    log: list[dict[str, float]] = list(resumed.get("log", []))
    if resumed:
        print(f"{desc}: resumed from {checkpoint.path} at step {done} ({spent / 60:.1f} min)", flush=True)
    budget = max_minutes * 60
    start = time.monotonic() - spent
    last_save = time.monotonic()
    running: dict[str, float] = {}
    in_window = 0  # steps summed in `running` (fewer than log_every in the first window after a resume)
    with tqdm(total=max_steps, initial=done, desc=desc, mininterval=10, dynamic_ncols=True) as bar:
        while done < max_steps and time.monotonic() - start < budget:
            values = step(done, max(done / max_steps, (time.monotonic() - start) / budget))
            done += 1
            bar.update(1)
            in_window += 1
            for key, value in values.items():
                running[key] = running.get(key, 0.0) + value
            if done % log_every == 0:
                entry = {"step": done, "minutes": (time.monotonic() - start) / 60,
                         **{k: v / in_window for k, v in running.items()}}
                log.append(entry)
                bar.set_postfix({k: f"{v:.4g}" for k, v in entry.items() if k != "step"}, refresh=False)
                tqdm.write(" ".join(f"{k}={v:.4g}" for k, v in entry.items()))
                running, in_window = {}, 0
            if checkpoint and time.monotonic() - last_save > checkpoint.every_minutes * 60:
                checkpoint.save({"step": done, "seconds": time.monotonic() - start, "log": log})
                last_save = time.monotonic()
    wall = time.monotonic() - start
    if checkpoint:
        checkpoint.save({"step": done, "seconds": wall, "log": log})
    return TrainResult(steps=done, wall_seconds=wall, final=log[-1] if log else {}, log=log)


def train(net: torch.nn.Module, bank: CropBank, device: torch.device, *, lmbda: float, batch_size: int,
          max_steps: int, max_minutes: float, lr: float, aux_lr: float, lr_drop_at: float,
          log_every: int, clip_max_norm: float = 1.0) -> TrainResult:
    """Train `net` in place; drop the learning rate 10x after `lr_drop_at` of the budget."""
    net.to(device).train()
    optimizers = net_aux_optimizer(net, {"net": {"type": "Adam", "lr": lr}, "aux": {"type": "Adam", "lr": aux_lr}})
    optimizer, aux_optimizer = optimizers["net"], optimizers["aux"]
    criterion = RateDistortionLoss(lmbda=lmbda)

    def step(_: int, progress: float) -> dict[str, float]:
        for group in optimizer.param_groups:
            group["lr"] = lr / 10 if progress >= lr_drop_at else lr
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
        return {"loss": out["loss"].item(), "bpp": out["bpp_loss"].item(),
                "psnr": -10 * math.log10(max(out["mse_loss"].item(), 1e-10)), "aux": aux_loss.item()}

    return run_steps(step, max_steps=max_steps, max_minutes=max_minutes, log_every=log_every, desc="ultralow")


def export(net: Any) -> dict[str, torch.Tensor]:
    """CDF tables are built by net.update(force=True) and saved with the weights, so decoders never rebuild them."""
    net.update(force=True)
    return {k: v.detach().cpu() for k, v in net.state_dict().items()}
