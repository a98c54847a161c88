"""`ultralow`: the small mean-scale hyperprior trained here (train.py) and shipped in the repo.

One trained lambda gives one rate; the `step` knob reaches lower rates by quantising
the latent with a step s >= 1 instead of 1: y/s is entropy-coded with means/s and
scales/s (the same Gaussian, rescaled), and the decoder multiplies back by s. The
hyperprior z is coded unchanged. s travels in the header like any knob.
The weights (state_dict saved after net.update(), CDF tables included) sit next to
MODEL_CARD.md in rdpbench/models/ultralow/ and are checked against a pinned SHA-256.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rdpbench.codecs.base import Knob, OperatingPoint
from rdpbench.codecs.learned import DEFAULT_CHECK_BYTES, CompressAIModelCodec, load_checkpoint
from rdpbench.codecs.registry import register_codec
from rdpbench.errors import CodecError, WeightsError

MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "ultralow"
SHIPPED_WEIGHTS = MODEL_DIR / "ultralow_msh.pth"
SHIPPED_SHA256 = "4d5f35738ad229af1a744b1d9072dc47fbc831ad8de54a36d473b31ef7f65d07"


@register_codec
class UltraLow(CompressAIModelCodec):
    name = "ultralow"
    codec_id = 26
    knobs = (Knob("step", 1.0, 16.0, step=0.25, rate_increasing=False),)
    rate_knob = "step"

    def __init__(self, ops=None, weights: str | None = None, sha256: str | None = None,
                 architecture: str = "compressai.models.MeanScaleHyperprior", device: str = "cpu",
                 check_bytes: int = DEFAULT_CHECK_BYTES) -> None:
        self.weights = Path(weights).expanduser() if weights else SHIPPED_WEIGHTS
        # the shipped file is always checked; a user's own weights only if they pin a digest
        self.sha256 = sha256 if sha256 or weights else SHIPPED_SHA256
        self.architecture = architecture
        super().__init__(ops, device, check_bytes)

    def net_key(self, op: OperatingPoint) -> tuple:
        return ()  # every step shares the one network

    def requirements(self) -> str:
        if not self.weights.is_file():
            raise CodecError(f"codec 'ultralow': weights {self.weights} missing; they ship with the repository "
                             f"(rdpbench/models/ultralow/) or are made by `python train.py out_dir=...`")
        return ""

    def load_net(self, op: OperatingPoint) -> Any:
        from rdpbench.weights import sha256_of

        self.requirements()
        if self.sha256 and sha256_of(self.weights) != self.sha256:
            raise WeightsError(f"codec 'ultralow': {self.weights} does not match the pinned SHA-256 {self.sha256}")
        state = load_checkpoint(self.weights, "codec 'ultralow'")
        try:
            return self.architecture_class().from_state_dict(state)
        except (KeyError, RuntimeError) as exc:
            raise WeightsError(f"codec 'ultralow': {self.weights} is not a {self.architecture} state_dict ({exc})") from exc

    def architecture_class(self) -> type:
        from hydra.utils import get_class

        return get_class(self.architecture)

    def latent_step(self, op: OperatingPoint) -> float:
        """y/s is entropy-coded with means/s and scales/s (the same Gaussian, rescaled); z unchanged."""
        return float(op["step"])

    def config(self) -> dict[str, Any]:
        from rdpbench.weights import sha256_of

        digest = sha256_of(self.weights) if self.weights.is_file() else None
        return {**super().config(), "architecture": self.architecture, "weights_sha256": digest}
