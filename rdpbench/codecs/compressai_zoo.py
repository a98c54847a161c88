"""The CompressAI zoo architectures (bmshj2018, mbt2018, cheng2020) on the learned-codec base.

Weights come from CompressAI's own URLs into the torch.hub cache (or `checkpoint=` for
your own); the stream layout and determinism rules are the base's (learned.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rdpbench.codecs.base import Knob, OperatingPoint
from rdpbench.codecs.learned import DEFAULT_CHECK_BYTES, CompressAIModelCodec, load_checkpoint
from rdpbench.codecs.registry import register_codec
from rdpbench.errors import CodecError, ConfigError, WeightsError


def zoo_location(architecture: str, metric: str, quality: int) -> tuple[str, Path]:
    """(URL, cache path): CompressAI's own names (compressai.zoo.image.model_urls) in the torch.hub
    cache, so a cache filled by compressai.zoo itself is reused and vice versa."""
    from compressai.zoo.image import model_urls

    from rdpbench.weights import torch_hub_checkpoint

    url = model_urls[architecture][metric][quality]
    return url, torch_hub_checkpoint(url.rsplit("/", 1)[1])


def zoo_checkpoint(architecture: str, metric: str, quality: int) -> Path:
    """The zoo checkpoint, downloaded first (and checked against the hash in its name) if absent."""
    from rdpbench.weights import fetch_checkpoint

    url, path = zoo_location(architecture, metric, quality)
    return fetch_checkpoint(url, path, f"CompressAI {architecture} {metric} quality {quality}")


class CompressAIZoo(CompressAIModelCodec):
    """A CompressAI zoo architecture at `metric` (mse | ms-ssim), quality levels as the knob.

    `checkpoint` may replace the zoo weights: a path with optional {quality} and {metric}
    fields (loaded with the architecture's from_state_dict, like the zoo does).
    """

    architecture: ClassVar[str]
    rate_knob = "quality"

    def __init__(self, ops=None, metric: str = "mse", checkpoint: str | None = None, device: str = "cpu",
                 check_bytes: int = DEFAULT_CHECK_BYTES) -> None:
        from compressai.zoo.image import model_urls

        if metric not in model_urls[self.architecture]:
            raise ConfigError(f"codec {self.name!r}: metric {metric!r} not in {sorted(model_urls[self.architecture])}")
        self.metric, self.checkpoint = metric, checkpoint
        super().__init__(ops, device, check_bytes)

    def checkpoint_path(self, quality: int) -> Path:
        if self.checkpoint is not None:
            return Path(self.checkpoint.format(quality=quality, metric=self.metric)).expanduser()
        return zoo_checkpoint(self.architecture, self.metric, quality)

    def requirements(self) -> str:
        """Checks without downloading: missing zoo weights are only fatal offline."""
        from rdpbench.weights import offline

        for op in self.operating_points():
            quality = int(op["quality"])
            if self.checkpoint is not None:
                url, path = "", self.checkpoint_path(quality)
            else:
                url, path = zoo_location(self.architecture, self.metric, quality)
                if not offline():
                    continue
            if not path.is_file():
                where = f"download {url} and put it at {path}" if url else "check the `checkpoint` option"
                raise CodecError(f"codec {self.name!r}: weights {path} missing; {where}")
        return ""

    def architecture_class(self) -> type:
        from compressai.zoo.image import model_architectures

        return model_architectures[self.architecture]

    def load_net(self, op: OperatingPoint) -> Any:
        from compressai.zoo.pretrained import load_pretrained

        path = self.checkpoint_path(int(op["quality"]))
        state = load_pretrained(load_checkpoint(path, f"codec {self.name!r}"))
        try:
            return self.architecture_class().from_state_dict(state)
        except (KeyError, RuntimeError) as exc:
            raise WeightsError(f"codec {self.name!r}: {path} is not a {self.architecture} state_dict ({exc})") from exc

    def config(self) -> dict[str, Any]:
        return {**super().config(), "architecture": self.architecture, "metric": self.metric,
                "checkpoint": self.checkpoint}


def _zoo(name: str, codec_id: int, architecture: str, qualities: int, levels: int) -> type:
    cls = type(name, (CompressAIZoo,), {
        "__doc__": f"CompressAI zoo '{architecture}' (qualities 1-{qualities}).",
        "__module__": __name__, "name": f"compressai-{architecture}", "codec_id": codec_id,
        "architecture": architecture, "knobs": (Knob("quality", 1, qualities),), "n_levels": levels})
    return register_codec(cls)


# One class per architecture: the header's codec id alone then says which network decodes.
Bmshj2018Factorized = _zoo("Bmshj2018Factorized", 20, "bmshj2018-factorized", 8, 1)
Bmshj2018Hyperprior = _zoo("Bmshj2018Hyperprior", 21, "bmshj2018-hyperprior", 8, 2)
Mbt2018Mean = _zoo("Mbt2018Mean", 22, "mbt2018-mean", 8, 2)
Mbt2018 = _zoo("Mbt2018", 23, "mbt2018", 8, 2)
Cheng2020Anchor = _zoo("Cheng2020Anchor", 24, "cheng2020-anchor", 6, 2)
Cheng2020Attn = _zoo("Cheng2020Attn", 25, "cheng2020-attn", 6, 2)
ZOO_CLASSES = (Bmshj2018Factorized, Bmshj2018Hyperprior, Mbt2018Mean, Mbt2018, Cheng2020Anchor, Cheng2020Attn)
