"""A trained SPRDiff model on disk: `config.json` (the network spec, rate points, sampling) and
`trainable.pth` (the state_dict of the trainable parts only, CDF tables included; the frozen parts
come from their own pinned sources named in the spec). The shipped one lives next to this file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rdpbench.errors import WeightsError

MODEL_DIR = Path(__file__).resolve().parent
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "trainable.pth"
CDF_BUFFERS = ("_quantized_cdf", "_offset", "_cdf_length", "scale_table")  # CompressAI entropy-model tables
#: the shipped files, checked on every load (a user's own model only if it pins digests)
SHIPPED_SHA256 = {
    CONFIG_NAME: "1dd04d23159f936efef192c093d4e8ca7bb7e56cdaee09a4431db7e01bdf89f5",
    WEIGHTS_NAME: "70f01af5e9c6f78ddfdc1bd8a1e92fff219d43125494ae01507cd465170acde1",
}


@dataclass(frozen=True)
class ModelConfig:
    """What a trained model's config.json holds (everything a decoder must agree on)."""

    variant: str  # e.g. "sprdiff-mini (no semantic branch)": names what was dropped or replaced
    network: dict[str, Any]  # base / diffusion / semantic `_target_` specs and `dims`
    rate_steps: tuple[float, ...]  # latent quantisation step of each trained rate point
    lambdas: tuple[float, ...]  # the training lambda of each rate point (documentation)
    strength: float  # diffusion decoding starts at strength x T from the coarse image's latent

    @classmethod
    def read(cls, model_dir: Path) -> "ModelConfig":
        path = model_dir / CONFIG_NAME
        try:
            data = json.loads(path.read_text())
            return cls(str(data["variant"]), dict(data["network"]), tuple(float(s) for s in data["rate_steps"]),
                       tuple(float(v) for v in data["lambdas"]), float(data["strength"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WeightsError(f"sprdiff: {path} is missing or not an sprdiff model config ({exc}); the shipped "
                               f"model lives in rdpbench/models/sprdiff/, or train one with "
                               f"`python train_sprdiff.py`") from exc

    def write(self, model_dir: Path) -> None:
        model_dir.mkdir(parents=True, exist_ok=True)
        data = {"variant": self.variant, "network": self.network, "rate_steps": list(self.rate_steps),
                "lambdas": list(self.lambdas), "strength": self.strength}
        (model_dir / CONFIG_NAME).write_text(json.dumps(data, indent=1) + "\n")


def trainable_keys(net: Any) -> set[str]:
    """The state_dict keys outside the frozen parts (those ship elsewhere, pinned)."""
    frozen = {name for name, module in net.named_modules() if module in net.frozen_modules()}
    return {k for k in net.state_dict() if not any(k == f or k.startswith(f + ".") for f in frozen)}


def trainable_state(net: Any) -> dict[str, Any]:
    keys = trainable_keys(net)
    return {k: v.detach().cpu() for k, v in net.state_dict().items() if k in keys}


def save(model_dir: Path, net: Any, config: ModelConfig) -> None:
    """config.json and the trainable weights (after update(force=True): the CDF tables ship with them)."""
    import torch

    net.update(force=True)
    config.write(model_dir)
    torch.save(trainable_state(net), model_dir / WEIGHTS_NAME)


def verify(model_dir: Path, sha256: dict[str, str]) -> None:
    from rdpbench.weights import verify_files

    verify_files(model_dir, sha256, "sprdiff", "the shipped model is in rdpbench/models/sprdiff/ "
                 "(or retrain it: `python train_sprdiff.py`)")


def load(model_dir: Path, device: str, sha256: dict[str, str]) -> tuple[Any, Any, ModelConfig]:
    """(net in eval mode on `device`, its diffusion scheduler, its config), files checked first."""
    from rdpbench.codecs.learned import load_checkpoint
    from rdpbench.models.sprdiff.parts import build_network

    verify(model_dir, sha256)
    config = ModelConfig.read(model_dir)
    net, scheduler = build_network(config.network, device)
    state = load_checkpoint(model_dir / WEIGHTS_NAME, "sprdiff")
    expected = trainable_keys(net)
    if set(state) != expected:
        missing, extra = sorted(expected - set(state))[:3], sorted(set(state) - expected)[:3]
        raise WeightsError(f"sprdiff: {model_dir / WEIGHTS_NAME} does not fit the network of its config.json "
                           f"(missing {missing}, unexpected {extra}); retrain, or restore both files together")
    # CDF tables differ in size from the base codec's that initialised them (training moved the quantiles);
    # CompressAI only resizes empty buffers, so size them to the saved tables first
    for name, buffer in net.named_buffers():
        if name.rsplit(".", 1)[-1] in CDF_BUFFERS and name in state:
            buffer.resize_(state[name].shape)
    net.load_state_dict(state, strict=False)
    return net.to(device).eval(), scheduler, config
