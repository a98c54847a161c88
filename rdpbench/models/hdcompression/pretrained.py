"""A trained HDCompression model on disk: `config.json` (network spec, the LIC stream it was trained
on, the strides it serves) and one weight file per training stage (`<stage>.pth`: the state_dict of
the modules that stage trained, loaded in stage order, so a later stage's fine-tuned decoder wins).
The shipped one lives next to this file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rdpbench.errors import WeightsError
from rdpbench.models.hdcompression.network import STAGE_MODULES, STAGES

MODEL_DIR = Path(__file__).resolve().parent
CONFIG_NAME = "config.json"
#: the shipped files, checked on every load (a user's own model only if it pins digests)
SHIPPED_SHA256 = {
    CONFIG_NAME: "32d1886508979cbbe936423e6defed3fb728a2bd0157744eb6bb3af52384cd08",
    "tokenizer.pth": "3975df1ea99b58efd265e9bfff51b0885f124b2cda5bad53d0e0551b2ec29469",
    "enhancement.pth": "2e560b1dd143b4a76e1fe1c14046e27902739f74d2ff2f23ceeae79959670c4a",
    "drv.pth": "99d9cf20ff4537634dccb37e2c33ea584614c7a5146b4466f73e619521ad0107",
    "predictor.pth": "ebe468451b80e6b4a2e14964dbfe027615004cee3f7c8919c4cddf80b487f74f",
}


def weights_name(stage: str) -> str:
    return f"{stage}.pth"


def model_files() -> tuple[str, ...]:
    return (CONFIG_NAME, *(weights_name(s) for s in STAGES))


@dataclass(frozen=True)
class ModelConfig:
    """What a trained model's config.json holds (everything a decoder must agree on, plus provenance)."""

    variant: str  # names what the offline replica replaces (the tokenizer, the LIC codec)
    network: dict[str, Any]  # tokenizer `_target_` spec and `dims`
    lic: dict[str, Any]  # the LIC codec config the DRVs and predictor were trained on (documentation)
    strides: tuple[int, ...]  # the lattice strides the predictor was trained for

    @classmethod
    def read(cls, model_dir: Path) -> "ModelConfig":
        path = model_dir / CONFIG_NAME
        try:
            data = json.loads(path.read_text())
            return cls(str(data["variant"]), dict(data["network"]), dict(data["lic"]),
                       tuple(int(s) for s in data["strides"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WeightsError(f"hdcompression: {path} is missing or not an hdcompression model config ({exc}); "
                               f"the shipped model lives in rdpbench/models/hdcompression/, or train one with "
                               f"`python train_hdcompression.py`") from exc

    def write(self, model_dir: Path) -> None:
        model_dir.mkdir(parents=True, exist_ok=True)
        data = {"variant": self.variant, "network": self.network, "lic": self.lic, "strides": list(self.strides)}
        (model_dir / CONFIG_NAME).write_text(json.dumps(data, indent=1) + "\n")


def stage_state(net: Any, stage: str) -> dict[str, Any]:
    prefixes = STAGE_MODULES[stage]
    return {k: v.detach().cpu() for k, v in net.state_dict().items() if k.startswith(prefixes)}


def save_stage(model_dir: Path, net: Any, stage: str) -> None:
    import torch

    model_dir.mkdir(parents=True, exist_ok=True)
    torch.save(stage_state(net, stage), model_dir / weights_name(stage))


def load_stage(model_dir: Path, net: Any, stage: str) -> None:
    """Restore one stage's modules in place; a file that does not fit the network is refused by name."""
    from rdpbench.codecs.learned import load_checkpoint

    path = model_dir / weights_name(stage)
    state = load_checkpoint(path, f"hdcompression {stage} weights")
    expected = set(stage_state(net, stage))
    if set(state) != expected:
        missing, extra = sorted(expected - set(state))[:3], sorted(set(state) - expected)[:3]
        raise WeightsError(f"hdcompression: {path} does not fit the network of its config.json (missing "
                           f"{missing}, unexpected {extra}); retrain that stage, or restore the files together")
    net.load_state_dict(state, strict=False)


def verify(model_dir: Path, sha256: dict[str, str]) -> None:
    from rdpbench.weights import verify_files

    verify_files(model_dir, sha256, "hdcompression", "the shipped model is in rdpbench/models/hdcompression/ "
                 "(or retrain it: `python train_hdcompression.py`)")


def load(model_dir: Path, device: str, sha256: dict[str, str]) -> tuple[Any, ModelConfig]:
    """(net in eval mode on `device`, its config), files checked first."""
    from rdpbench.models.hdcompression.parts import build_network

    verify(model_dir, sha256)
    config = ModelConfig.read(model_dir)
    net = build_network(config.network)
    for stage in STAGES:
        load_stage(model_dir, net, stage)
    return net.to(device).eval(), config
