"""HDCompression training: four stages on rdpbench.training.loop.run_steps (budgeted, resumable, logged).

1. tokenizer: the VQ tokenizer (diffusers VQModel) on pixel crops: MSE + the quantiser's codebook and
   commitment terms, with dead-code restarts (below);
2. enhancement: the DRV extractor E(x, x_hat) and the FiLM-modulated LIC enhancement (MSE of x_hat_lic),
   plus an index probe that makes the index DRV carry what the index map needs (cross-entropy);
3. drv: the tiny diffusion model regenerating both DRVs from x_hat alone, trained through its whole
   few-step chain (L1 to the extractor's DRVs + the enhancement's MSE with the sampled DRV), as DiffIR;
4. predictor: the masked-token index predictor (cross-entropy on the positions not transmitted, lattice
   masks of the codec's strides, DRV dropout) and the VQ-latent correction with the VQ decoder
   (MSE of the output decoded from the transmitted + predicted index map).
x_hat is the LIC codec's reconstruction *decoded from its bytes* (LICBank), at each LIC operating point
the model serves, so training sees exactly what the decoder will.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from rdpbench.models.hdcompression.predictor import lattice_mask
from rdpbench.training.data import CropBank
from rdpbench.training.loop import Checkpoint, GeneratorState, TrainResult, run_steps, warmup_cosine_lr


class LICBank:
    """The crops of a CropBank with the LIC codec's decoded reconstruction of each at each op (uint8),
    computed once and cached in `cache`, keyed by the codec config, the ops and the crops' own bytes
    (another data root, crop size or seed is another key, never a stale pairing)."""

    def __init__(self, bank: CropBank, codec: Any, ops: Sequence[dict[str, Any]], cache: Path | None) -> None:
        import hashlib

        from rdpbench.results.provenance import config_hash

        key = {"codec": config_hash(codec.config()), "ops": [dict(op) for op in ops],
               "crops_sha256": hashlib.sha256(bank.crops.numpy().tobytes()).hexdigest()}
        self.bank, self.ops = bank, list(ops)
        if cache is not None and cache.is_file():
            saved = torch.load(cache, weights_only=False)
            if saved["key"] == key:
                self.decoded = saved["decoded"]
                return
        crops = bank.crops.permute(0, 2, 3, 1).numpy()
        decoded = np.empty((len(self.ops), *crops.shape), np.uint8)
        for j, op in enumerate(self.ops):
            for i in tqdm(range(len(crops)), desc=f"LIC stream {op}", mininterval=10):
                decoded[j, i] = codec.decode(codec.encode(np.ascontiguousarray(crops[i]), op))
        self.decoded = torch.from_numpy(decoded).permute(0, 1, 4, 2, 3).contiguous()
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"key": key, "decoded": self.decoded}, cache)

    def batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, x_hat) in [0, 1], the LIC op drawn per crop, flips shared."""
        generator = self.bank.generator
        index = torch.randint(len(self.bank), (batch_size,), generator=generator)
        op = torch.randint(len(self.ops), (batch_size,), generator=generator)
        x = self.bank.crops[index].float().div_(255)
        x_hat = self.decoded[op, index].float().div_(255)
        flip = torch.rand(batch_size, generator=generator) < 0.5
        x[flip], x_hat[flip] = x[flip].flip(-1), x_hat[flip].flip(-1)
        return x, x_hat


def psnr(mse: float) -> float:
    return -10 * math.log10(max(mse, 1e-10))


class StageLoop:
    """What every stage shares: AdamW over the stage's parameters with warm-up + cosine decay, gradient
    clipping, and a checkpoint of the net, the optimiser, the crop sampler and the stage's own draws."""

    def __init__(self, net: Any, stage: str, bank: CropBank, checkpoint_path: Path | None, *, lr: float,
                 warmup: float, checkpoint_minutes: float, seed_offset: int) -> None:
        self.params = net.stage_parameters(stage)
        self.optimizer = torch.optim.AdamW(self.params, lr=lr, weight_decay=0.0)
        self.lr, self.warmup = lr, warmup
        self.draws = torch.Generator().manual_seed(int(bank.generator.initial_seed()) + seed_offset)
        self.checkpoint = Checkpoint(checkpoint_path, checkpoint_minutes,
                                     {"net": net, "optimizer": self.optimizer, "bank": GeneratorState(bank.generator),
                                      "draws": GeneratorState(self.draws)})

    def update(self, loss: torch.Tensor, progress: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = warmup_cosine_lr(self.lr, progress, self.warmup)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()

    def run(self, step: Any, *, max_steps: int, max_minutes: float, log_every: int, desc: str) -> TrainResult:
        return run_steps(step, max_steps=max_steps, max_minutes=max_minutes, log_every=log_every,
                         checkpoint=self.checkpoint, desc=desc)


def random_subcrop(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """One random size x size window of a batch (the tokenizer is fully convolutional: smaller crops,
    more steps in a CPU budget)."""
    if size >= min(x.shape[-2:]):
        return x
    top, left = (int(torch.randint(s - size + 1, (1,), generator=generator)) for s in x.shape[-2:])
    return x[..., top:top + size, left:left + size]


def train_tokenizer(net: Any, bank: CropBank, device: torch.device, checkpoint_path: Path | None, *,
                    crop_size: int, batch_size: int, max_steps: int, max_minutes: float, lr: float, warmup: float,
                    restart_every: int, log_every: int, checkpoint_minutes: float) -> TrainResult:
    """Dead-code restarts: every `restart_every` steps, codes no latent used since the last restart are
    moved onto random latents of the current batch. Written here because diffusers' VectorQuantizer has
    none, and a short CPU run otherwise ends with most of the codebook dead (a smaller effective K)."""
    from rdpbench.models.hdcompression.correction import decode_latent

    tokenizer = net.tokenizer.to(device).train()
    tokenizer.quantize.legacy = False  # VQ-VAE's weighting: beta on the commitment term (diffusers' default swaps it)
    loop = StageLoop(net, "tokenizer", bank, checkpoint_path, lr=lr, warmup=warmup,
                     checkpoint_minutes=checkpoint_minutes, seed_offset=11)
    draws = loop.draws
    used = torch.zeros(net.codebook_size, dtype=torch.bool)

    def step(i: int, progress: float) -> dict[str, float]:
        x = random_subcrop(bank.batch(batch_size), crop_size, draws).to(device)
        latent = net.tokenizer_latent(x)
        z_q, vq_loss, (_, _, indices) = tokenizer.quantize(latent)
        out = decode_latent(tokenizer, z_q)
        mse = (out - (x * 2 - 1)).pow(2).mean() / 4  # in [0, 1] units
        loss = mse + vq_loss
        loop.update(loss, progress)
        used[indices.flatten().cpu()] = True
        dead = int((~used).sum())
        if (i + 1) % restart_every == 0:
            if dead:
                flat = latent.detach().permute(0, 2, 3, 1).reshape(-1, latent.shape[1])
                pick = torch.randint(len(flat), (dead,), generator=draws)
                with torch.no_grad():
                    tokenizer.quantize.embedding.weight[~used] = flat[pick].to(tokenizer.quantize.embedding.weight)
            used.zero_()
        return {"loss": loss.item(), "psnr": psnr(mse.item()), "vq": vq_loss.item(), "unused_codes": dead}

    return loop.run(step, max_steps=max_steps, max_minutes=max_minutes, log_every=log_every,
                    desc="hdcompression tokenizer")


def train_enhancement(net: Any, lic: LICBank, device: torch.device, checkpoint_path: Path | None, *,
                      batch_size: int, max_steps: int, max_minutes: float, lr: float, warmup: float,
                      probe_weight: float, log_every: int, checkpoint_minutes: float) -> TrainResult:
    net.to(device).eval()
    loop = StageLoop(net, "enhancement", lic.bank, checkpoint_path, lr=lr, warmup=warmup,
                     checkpoint_minutes=checkpoint_minutes, seed_offset=12)

    def step(_: int, progress: float) -> dict[str, float]:
        x, x_hat = (t.to(device) for t in lic.batch(batch_size))
        with torch.no_grad():
            target = net.indices(x)
        drvs = net.extractor(x, x_hat)
        mse = (net.enhancer(x_hat, drvs.lic) - x).pow(2).mean()
        probe = F.cross_entropy(net.extractor.probe(x_hat, drvs.index, target.shape[-2:]), target)
        loss = 255 ** 2 * mse / 100 + probe_weight * probe
        loop.update(loss, progress)
        return {"loss": loss.item(), "psnr_lic": psnr(mse.item()),
                "psnr_base": psnr((x_hat - x).pow(2).mean().item()), "probe_ce": probe.item()}

    return loop.run(step, max_steps=max_steps, max_minutes=max_minutes, log_every=log_every,
                    desc="hdcompression enhancement")


def train_drv(net: Any, lic: LICBank, device: torch.device, checkpoint_path: Path | None, *, batch_size: int,
              max_steps: int, max_minutes: float, lr: float, warmup: float, image_weight: float, log_every: int,
              checkpoint_minutes: float) -> TrainResult:
    net.to(device).eval()
    loop = StageLoop(net, "drv", lic.bank, checkpoint_path, lr=lr, warmup=warmup,
                     checkpoint_minutes=checkpoint_minutes, seed_offset=13)
    draws = loop.draws

    def step(i: int, progress: float) -> dict[str, float]:
        x, x_hat = (t.to(device) for t in lic.batch(batch_size))
        with torch.no_grad():
            target = net.extractor(x, x_hat)
        x_lic, sampled = net.lic_branch(x_hat, seed=int(torch.randint(2 ** 31, (1,), generator=draws)))
        l1 = (sampled.lic - target.lic).abs().mean() + (sampled.index - target.index).abs().mean()
        mse = (x_lic - x).pow(2).mean()
        loss = l1 + image_weight * 255 ** 2 * mse / 100
        loop.update(loss, progress)
        return {"loss": loss.item(), "l1": l1.item(), "psnr_lic": psnr(mse.item()),
                "psnr_base": psnr((x_hat - x).pow(2).mean().item())}

    return loop.run(step, max_steps=max_steps, max_minutes=max_minutes, log_every=log_every,
                    desc="hdcompression drv diffusion")


def random_known(shape: tuple[int, int, int], strides: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """(B, h, w) transmitted-position masks: a lattice of a stride drawn per crop, random phase."""
    masks = []
    for _ in range(shape[0]):
        stride = int(strides[int(torch.randint(len(strides), (1,), generator=generator))])
        phase = tuple(int(v) for v in torch.randint(max(stride, 1), (2,), generator=generator))
        masks.append(lattice_mask(shape[1], shape[2], stride, phase))
    return torch.stack(masks)


def train_predictor(net: Any, lic: LICBank, device: torch.device, checkpoint_path: Path | None, *,
                    strides: Sequence[int], drv_dropout: float, image_weight: float, batch_size: int,
                    max_steps: int, max_minutes: float, lr: float, warmup: float, log_every: int,
                    checkpoint_minutes: float) -> TrainResult:
    net.to(device).eval()
    net.tokenizer.decoder.train()
    loop = StageLoop(net, "predictor", lic.bank, checkpoint_path, lr=lr, warmup=warmup,
                     checkpoint_minutes=checkpoint_minutes, seed_offset=14)
    draws = loop.draws

    def step(_: int, progress: float) -> dict[str, float]:
        x, x_hat = (t.to(device) for t in lic.batch(batch_size))
        with torch.no_grad():
            target = net.indices(x)
            x_lic, drvs = net.lic_branch(x_hat, seed=int(torch.randint(2 ** 31, (1,), generator=draws)))
        known = random_known(tuple(target.shape), strides, draws).to(device)
        use_drv = float(torch.rand(1, generator=draws)) >= drv_dropout
        features = net.features(x_lic)
        logits = net.logits(target, known, features, drvs.index if use_drv else None)
        unknown = ~known
        ce = (F.cross_entropy(logits.permute(0, 2, 3, 1)[unknown], target[unknown]) if unknown.any()
              else logits.sum() * 0)
        full = torch.where(known, target, logits.argmax(1).detach())
        mse = (net.reconstruct(full, features) - x).pow(2).mean()
        loss = ce + image_weight * 255 ** 2 * mse / 100
        loop.update(loss, progress)
        accuracy = (full == target)[unknown].float().mean().item() if unknown.any() else 1.0
        return {"loss": loss.item(), "ce": ce.item(), "accuracy": accuracy, "psnr": psnr(mse.item()),
                "psnr_lic": psnr((x_lic - x).pow(2).mean().item())}

    return loop.run(step, max_steps=max_steps, max_minutes=max_minutes, log_every=log_every,
                    desc="hdcompression predictor")
