"""`sprdiff` (seed 001): an SPRDiff-style codec on the learned-codec base.

Stream = rdpbench header (rate point, diffusion steps) + the CompressAI rANS strings of the fused
latent y and its hyper-latent z (varint length) + check bytes: exactly the learned base's layout,
so its size checks, host-side float64 hyper path (portable entropy parameters) and per-section
counts apply unchanged. The decoder entropy-decodes y, runs the reconstruction module (coarse image,
pixel and semantic conditions) and, for steps > 0, the seeded guided DDIM on the frozen UNet;
steps = 0 outputs the coarse image itself, so the diffusion stage's effect is one knob away.

Rate points are the trained ones (`rate` indexes the model's `rate_steps`: one network trained with
a lambda per latent quantisation step). The architecture and what is the paper's vs our reading:
rdpbench/models/sprdiff/network.py and docs/sprdiff.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rdpbench.codecs.base import Knob, OperatingPoint
from rdpbench.codecs.learned import DEFAULT_CHECK_BYTES, CompressAIModelCodec, HyperpriorLayout
from rdpbench.codecs.registry import register_codec
from rdpbench.errors import ConfigError

MAX_RATE_POINTS = 8


@register_codec
class SPRDiff(CompressAIModelCodec):
    name = "sprdiff"
    codec_id = 60
    knobs = (Knob("rate", 0, MAX_RATE_POINTS - 1), Knob("steps", 0, 100, rate_increasing=False))
    rate_knob = "rate"

    def __init__(self, ops=None, model: str | None = None, sha256: dict[str, str] | None = None, seed: int = 0,
                 device: str = "cpu", check_bytes: int = DEFAULT_CHECK_BYTES) -> None:
        from rdpbench.models.sprdiff import pretrained

        self.shipped = model is None
        self.model_dir = Path(model).expanduser() if model else pretrained.MODEL_DIR
        self.sha256 = dict(sha256) if sha256 else (dict(pretrained.SHIPPED_SHA256) if self.shipped else {})
        self.seed = int(seed)
        self._config: Any = None
        self._scheduler: Any = None
        super().__init__(ops, device, check_bytes)
        for op in self.operating_points():
            self.rate_step(op)

    @property
    def model_config(self) -> Any:
        from rdpbench.models.sprdiff.pretrained import ModelConfig

        if self._config is None:
            self._config = ModelConfig.read(self.model_dir)
        return self._config

    def rate_step(self, op: OperatingPoint) -> float:
        steps = self.model_config.rate_steps
        if op["rate"] >= len(steps):
            raise ConfigError(f"codec 'sprdiff': rate={op['rate']} but the model has {len(steps)} trained rate points "
                              f"(0..{len(steps) - 1}; steps {list(steps)})")
        return steps[op["rate"]]

    def net_key(self, op: OperatingPoint) -> tuple:
        return ()  # one network serves every rate point and step count

    def architecture_class(self) -> type:
        from rdpbench.models.sprdiff.network import SPRDiffNet

        return SPRDiffNet

    @property
    def layout(self) -> HyperpriorLayout:
        # a mean-scale hyper path; there is no single analysis module (compress() runs the triple encoder)
        return HyperpriorLayout(means=True)

    def requirements(self) -> str:
        from rdpbench.models.sprdiff.pretrained import verify

        verify(self.model_dir, self.sha256)
        _ = self.model_config
        return ""

    def load_net(self, op: OperatingPoint) -> Any:
        from rdpbench.models.sprdiff.pretrained import load

        net, self._scheduler, self._config = load(self.model_dir, str(self.device), self.sha256)
        return net

    def latent_step(self, op: OperatingPoint) -> float:
        return self.rate_step(op)

    def compress(self, net: Any, x: Any, op: OperatingPoint) -> list[list[bytes]]:
        y, hyper_input = net.analysis(x)
        return self._host[self.net_key(op)].compress(y, self.latent_step(op), hyper_input=hyper_input)

    def decompress(self, net: Any, strings: list[list[bytes]], padded: tuple[int, int], op: OperatingPoint) -> Any:
        from rdpbench.models.sprdiff.network import guided_sample

        y_hat = self.hyper_latents(net, strings, padded, op).y_hat
        conditions = net.reconstruction(y_hat.to(self.device, next(net.g_s.parameters()).dtype))
        if op["steps"] == 0:
            return conditions.coarse
        return guided_sample(net, self._scheduler, conditions, int(op["steps"]), self.model_config.strength, self.seed)

    def config(self) -> dict[str, Any]:
        from rdpbench.models.sprdiff.pretrained import CONFIG_NAME, WEIGHTS_NAME
        from rdpbench.weights import sha256_of

        files = {name: sha256_of(self.model_dir / name) if (self.model_dir / name).is_file() else None
                 for name in (CONFIG_NAME, WEIGHTS_NAME)}
        variant = self.model_config.variant if (self.model_dir / CONFIG_NAME).is_file() else None
        return {**super().config(), "model": "rdpbench/models/sprdiff" if self.shipped else str(self.model_dir),
                "variant": variant, "files_sha256": files, "seed": self.seed}
