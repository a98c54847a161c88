"""Train the small learned codec: `python train.py` (CPU, ~30 min) or `python train.py --config-name gpu_full`.

Writes <out_dir>/<weights_name> (state_dict after net.update(), CDF tables included)
and <out_dir>/training.json (data, steps, lambda, wall time, loss log) for MODEL_CARD.md.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import hydra
import torch
from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig, OmegaConf

from rdpbench.device import resolve_device
from rdpbench.paths import training_photos
from rdpbench.training.data import CropBank
from rdpbench.training.loop import export, train


# ${training_photos:} in the recipe: <data root>/train ($RDPBENCH_DATA_ROOT, else ../shared/datasets).
OmegaConf.register_new_resolver("training_photos", lambda: str(training_photos()))


@hydra.main(config_path="rdpbench/training/conf", config_name="cpu_small", version_base="1.3")
def main(cfg: DictConfig) -> None:
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    bank = CropBank(to_absolute_path(cfg.data.root), cfg.data.crop_size, cfg.data.crops_per_image, cfg.seed)
    print(f"{len(bank)} crops of {cfg.data.crop_size}px from {cfg.data.root}; device {device}", flush=True)
    net = instantiate(cfg.model)
    if cfg.init_from:  # continue from an earlier run (e.g. a second lambda, or more steps)
        net = type(net).from_state_dict(torch.load(to_absolute_path(cfg.init_from), map_location="cpu"))
    result = train(net, bank, device, **OmegaConf.to_container(cfg.optim, resolve=True))
    out_dir = Path(to_absolute_path(cfg.out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(export(net.cpu()), out_dir / cfg.weights_name)
    record = {"config": OmegaConf.to_container(cfg, resolve=True), "n_crops": len(bank),
              "n_parameters": sum(p.numel() for p in net.parameters()), "steps": result.steps,
              "wall_seconds": result.wall_seconds, "final": result.final, "device": str(device),
              "torch": torch.__version__, "machine": platform.processor() or platform.machine(), "log": result.log}
    (out_dir / "training.json").write_text(json.dumps(record, indent=1))
    print(f"saved {out_dir / cfg.weights_name} after {result.steps} steps, {result.wall_seconds / 60:.1f} min")


if __name__ == "__main__":
    main()
