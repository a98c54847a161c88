"""Train hdcompression: `python train_hdcompression.py` (CPU, < 2 h) or `--config-name hdcompression_gpu`.

Four stages (rdpbench.training.hdcompression): tokenizer, enhancement (DRV extractor + LIC enhancement),
drv (the DRV diffusion), predictor (index predictor + VQ-latent correction). `stages=[...]` picks the
ones to train this time, `pretrained_stages` are saved as built (a public VQGAN), the others are loaded
from <out_dir> (their weights must be there): the stages need not run in one go. Each stage
checkpoints into <work_dir> every few minutes and resumes when rerun (a finished stage returns at
once); when it finishes, its weights land in <out_dir>/<stage>.pth with <out_dir>/training_<stage>.json
(data, steps, losses, wall time).
"""

from __future__ import annotations

import json
import platform
import time

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from rdpbench.models.hdcompression.network import STAGES
from rdpbench.models.hdcompression.parts import build_network
from rdpbench.models.hdcompression.pretrained import ModelConfig, load_stage, save_stage
from rdpbench.paths import data_label
from rdpbench.training import hdcompression as stages
from rdpbench.training.data import CropBank
from rdpbench.training.loop import start

TRAINERS = {"tokenizer": stages.train_tokenizer, "enhancement": stages.train_enhancement,
            "drv": stages.train_drv, "predictor": stages.train_predictor}


@hydra.main(config_path="rdpbench/training/conf", config_name="hdcompression_cpu", version_base="1.3")
def main(cfg: DictConfig) -> None:
    started = time.monotonic()
    run = start(cfg)
    device, work_dir, out_dir = run.device, run.work_dir, run.out_dir
    unknown = sorted((set(cfg.stages) | set(cfg.pretrained_stages)) - set(STAGES))
    if unknown:
        raise SystemExit(f"stages={list(cfg.stages)}: unknown {unknown}; choose from {list(STAGES)}")
    spec = OmegaConf.to_container(cfg.network, resolve=True)
    net = build_network(spec)
    lic_spec = OmegaConf.to_container(cfg.lic, resolve=True)
    ModelConfig(cfg.variant, spec, lic_spec, tuple(cfg.predictor_stage.strides)).write(out_dir)
    print(f"data {data_label(run.data_root)}; device {device}; stages {list(cfg.stages)}", flush=True)
    bank, lic = None, None
    for stage in STAGES:
        if stage in cfg.pretrained_stages:  # weights that came with the network spec (a public VQGAN)
            save_stage(out_dir, net, stage)
            continue
        if stage not in cfg.stages:
            load_stage(out_dir, net, stage)
            continue
        if bank is None:
            bank = CropBank(run.data_root, cfg.data.crop_size, cfg.data.crops_per_image, cfg.seed)
        options = OmegaConf.to_container(cfg[f"{stage}_stage"], resolve=True)
        if stage == "tokenizer":
            data = bank
        else:
            if lic is None:
                codec = instantiate(cfg.lic)
                lic = stages.LICBank(bank, codec, [codec.validate(op) for op in cfg.lic_ops],
                                     work_dir / "lic_bank.pt")
            data = lic
        result = TRAINERS[stage](net, data, device, work_dir / f"{stage}.pt", **options)
        net = net.cpu()
        save_stage(out_dir, net, stage)
        record = {"stage": stage, "config": OmegaConf.to_container(cfg, resolve=True),
                  "data": data_label(run.data_root),
                  "n_crops": len(bank), "parameters": sum(p.numel() for p in net.stage_parameters(stage)),
                  "device": str(device), "torch": torch.__version__,
                  "machine": platform.processor() or platform.machine(), "steps": result.steps,
                  "train_seconds": result.wall_seconds, "final": result.final, "log": result.log,
                  "wall_seconds_this_invocation": time.monotonic() - started}
        (out_dir / f"training_{stage}.json").write_text(json.dumps(record, indent=1) + "\n")
        print(f"saved {out_dir / (stage + '.pth')}: {result.steps} steps", flush=True)
        net = net.to(device)


if __name__ == "__main__":
    main()
