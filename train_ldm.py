"""Train mini-ldm: `python train_ldm.py` (CPU, < 90 min) or `python train_ldm.py --config-name mini_ldm_gpu`.

Stage 1 trains the autoencoder, stage 2 the unconditional UNet on its latents (rdpbench.training.ldm).
Checkpoints land in <work_dir> every few minutes; rerunning the same command resumes (a finished
stage is restored and skipped). Writes the diffusers snapshot to <out_dir> (unet/ vae/ scheduler/
model_index.json), <out_dir>/training.json (data, steps, losses, wall time) and <out_dir>/samples.png.
"""

from __future__ import annotations

import json
import platform
import time

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from rdpbench.paths import data_label
from rdpbench.training.data import CropBank
from rdpbench.training.loop import start
from rdpbench.training.ldm import (encode_bank, latent_scaling, sample_grid, save_snapshot, train_autoencoder,
                                   train_unet)


@hydra.main(config_path="rdpbench/training/conf", config_name="mini_ldm_cpu", version_base="1.3")
def main(cfg: DictConfig) -> None:
    started = time.monotonic()
    run = start(cfg)
    device, root, work_dir, out_dir = run.device, run.data_root, run.work_dir, run.out_dir
    vae = instantiate(cfg.vae, _convert_="all")
    unet = instantiate(cfg.unet, _convert_="all")
    scheduler = instantiate(cfg.scheduler, _convert_="all")
    n_params = {name: sum(p.numel() for p in m.parameters()) for name, m in (("vae", vae), ("unet", unet))}
    print(f"data {data_label(root)}; device {device}; parameters {n_params}", flush=True)

    bank = CropBank(root, cfg.data.vae_crop_size, cfg.data.vae_crops_per_image, cfg.seed)
    print(f"autoencoder: {len(bank)} crops of {cfg.data.vae_crop_size}px", flush=True)
    ae = train_autoencoder(vae, bank, device, work_dir / "autoencoder.pt",
                           **OmegaConf.to_container(cfg.autoencoder, resolve=True))
    del bank

    latents_file = work_dir / "latents.pt"  # encoded once per autoencoder (keyed by its step count)
    cached = torch.load(latents_file) if latents_file.is_file() else {}
    if cached.get("autoencoder_steps") == ae.steps:
        latents = cached["latents"]
    else:
        unet_bank = CropBank(root, cfg.data.unet_crop_size, cfg.data.unet_crops_per_image, cfg.seed + 1)
        latents = encode_bank(vae, unet_bank, device)
        torch.save({"autoencoder_steps": ae.steps, "latents": latents}, latents_file)
    scaling = latent_scaling(latents)
    vae.register_to_config(scaling_factor=scaling)
    print(f"diffusion: {len(latents)} latents {tuple(latents.shape[1:])}, scaling factor {scaling:.4f}", flush=True)
    dm, ema = train_unet(unet, scheduler, latents * scaling, device, work_dir / "unet.pt", cfg.seed,
                         **OmegaConf.to_container(cfg.diffusion, resolve=True))
    ema.copy_to(unet.parameters())  # the EMA weights are the ones that ship

    vae, unet = vae.cpu().eval(), unet.cpu().eval()
    save_snapshot(out_dir, vae, unet, scheduler, cfg.save_dtype)
    sample_grid(vae, unet, scheduler, out_dir / "samples.png", **OmegaConf.to_container(cfg.samples, resolve=True))
    record = {"config": OmegaConf.to_container(cfg, resolve=True), "data": data_label(root),
              "n_parameters": n_params, "scaling_factor": scaling, "n_latents": len(latents),
              "device": str(device), "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
              "wall_seconds_this_invocation": time.monotonic() - started,
              "autoencoder": {"steps": ae.steps, "train_seconds": ae.wall_seconds, "final": ae.final, "log": ae.log},
              "unet": {"steps": dm.steps, "train_seconds": dm.wall_seconds, "final": dm.final, "log": dm.log}}
    (out_dir / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"saved {out_dir}: autoencoder {ae.steps} steps, unet {dm.steps} steps", flush=True)


if __name__ == "__main__":
    main()
