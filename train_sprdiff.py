"""Train sprdiff: `python train_sprdiff.py` (CPU, < 90 min) or `python train_sprdiff.py --config-name sprdiff_gpu`.

Stage 1 trains the codec part (fusion encoder, hyperprior, coarse synthesis), stage 2 the guidance
(condition heads, ControlNet-lite, token cross-attention) on the frozen UNet (rdpbench.training.sprdiff).
Checkpoints land in <work_dir> every few minutes; rerunning the same command resumes (a finished stage
is restored and skipped). Writes <out_dir>/config.json + trainable.pth (the model `codec=sprdiff` loads)
and <out_dir>/training.json (data, steps, losses, wall time).
"""

from __future__ import annotations

import json
import platform
import time

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from rdpbench.models.sprdiff.parts import build_network
from rdpbench.models.sprdiff.pretrained import ModelConfig, save
from rdpbench.paths import data_label
from rdpbench.training.data import CropBank
from rdpbench.training.loop import start
from rdpbench.training.sprdiff import train_codec, train_guidance


@hydra.main(config_path="rdpbench/training/conf", config_name="sprdiff_cpu", version_base="1.3")
def main(cfg: DictConfig) -> None:
    started = time.monotonic()
    run = start(cfg)
    device, root, work_dir, out_dir = run.device, run.data_root, run.work_dir, run.out_dir
    spec = OmegaConf.to_container(cfg.network, resolve=True)
    net, scheduler = build_network(spec, run.device_name)
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    print(f"data {data_label(root)}; device {device}; trainable parameters {trainable:,}", flush=True)
    bank = CropBank(root, cfg.data.crop_size, cfg.data.crops_per_image, cfg.seed)
    rates = OmegaConf.to_container(cfg.rates, resolve=True)
    perceptual = instantiate(cfg.perceptual).to(device).eval() if cfg.perceptual else None
    codec = train_codec(net, bank, device, work_dir / "codec.pt", rate_steps=rates["steps"], lambdas=rates["lambdas"],
                        perceptual=perceptual, **OmegaConf.to_container(cfg.codec_stage, resolve=True))
    guidance = train_guidance(net, scheduler, bank, device, work_dir / "guidance.pt", rate_steps=rates["steps"],
                              strength=cfg.strength, **OmegaConf.to_container(cfg.guidance_stage, resolve=True))
    net = net.cpu().eval()
    save(out_dir, net, ModelConfig(cfg.variant, spec, tuple(rates["steps"]), tuple(rates["lambdas"]), cfg.strength))
    record = {"config": OmegaConf.to_container(cfg, resolve=True), "data": data_label(root),
              "n_crops": len(bank), "trainable_parameters": trainable, "device": str(device),
              "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
              "wall_seconds_this_invocation": time.monotonic() - started,
              "codec": {"steps": codec.steps, "train_seconds": codec.wall_seconds, "final": codec.final,
                        "log": codec.log},
              "guidance": {"steps": guidance.steps, "train_seconds": guidance.wall_seconds, "final": guidance.final,
                           "log": guidance.log}}
    (out_dir / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"saved {out_dir}: codec {codec.steps} steps, guidance {guidance.steps} steps", flush=True)


if __name__ == "__main__":
    main()
