"""MS-ILLM (Muckley et al., ICML 2023) through Meta's NeuralCompression package.

The network is built by `neuralcompression.zoo.msillm_quality_<q>(pretrained=False)`
(the function behind the torch.hub entry points of facebookresearch/NeuralCompression)
and its released checkpoint is read from the torch.hub cache under the name
load_state_dict_from_url gives it (TORCH_HOME/hub/checkpoints/msillm_target_<bpp>bpp.ckpt),
downloaded from dl.fbaipublicfiles.com if absent and online. Weights: CC-BY-NC 4.0.
Meta publishes no checksums for these files, so none is pinned.

Coding is HiFiCAutoencoder's encoder and decoder on the run's device, with its hyper path
(CompressAI entropy models underneath) on the host in float64 like every hyperprior on the
learned-codec base (learned.py: portable streams): the two strings (latent y, hyper-latent z)
go into the same container as the CompressAI codecs; sizes are derived from the header. The
package pins scipy<=1.11.1, so it is installed without dependencies (see requirements()).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from rdpbench.codecs.base import Knob, OperatingPoint
from rdpbench.codecs.learned import DEFAULT_CHECK_BYTES, CompressAIModelCodec, LatentLevel, load_checkpoint
from rdpbench.codecs.registry import register_codec
from rdpbench.errors import CodecError, WeightsError

RELEASE_URL = "https://dl.fbaipublicfiles.com/NeuralCompression/2023-muckley-msillm/msillm_{target}.ckpt"
# quality -> target of the released checkpoint (neuralcompression/zoo/_msillm.py VALID_WEIGHTS)
TARGETS = {1: "target_0.035bpp", 2: "target_0.07bpp", 3: "target_0.14bpp", 4: "target_0.3bpp",
           5: "target_0.45bpp", 6: "target_0.9bpp"}
INSTALL_HINT = ("pip install --no-deps neuralcompression==0.3.1 fvcore iopath yacs portalocker termcolor tabulate "
                "(--no-deps: its scipy<=1.11.1 pin would downgrade scipy)")


def release_location(quality: int) -> tuple[str, Path]:
    from rdpbench.weights import torch_hub_checkpoint

    url = RELEASE_URL.format(target=TARGETS[quality])
    return url, torch_hub_checkpoint(url.rsplit("/", 1)[1])


@register_codec
class MSILLM(CompressAIModelCodec):
    """`architecture` overrides HiFiCAutoencoder's constructor arguments (tests use a tiny one)."""

    name = "msillm"
    codec_id = 27
    knobs = (Knob("quality", 1, 6),)
    rate_knob = "quality"

    def __init__(self, ops=None, checkpoint: str | None = None, architecture: Mapping[str, Any] | None = None,
                 device: str = "cpu", check_bytes: int = DEFAULT_CHECK_BYTES) -> None:
        self.checkpoint = checkpoint
        self.architecture = dict(architecture or {})
        super().__init__(ops, device, check_bytes)

    def requirements(self) -> str:
        from rdpbench.weights import offline

        try:
            import neuralcompression.zoo  # noqa: F401
        except ImportError as exc:
            raise CodecError(f"codec 'msillm': the `neuralcompression` package is not importable ({exc}); "
                             f"{INSTALL_HINT}") from exc
        for op in self.operating_points():
            url, path = self.location(int(op["quality"]))
            if not path.is_file() and (offline() or not url):
                raise CodecError(f"codec 'msillm': weights {path} missing; download {url or 'them'} to {path}")
        return ""

    def architecture_class(self) -> type:
        from neuralcompression.models import HiFiCAutoencoder

        return HiFiCAutoencoder

    def location(self, quality: int) -> tuple[str, Path]:
        if self.checkpoint is not None:
            return "", Path(self.checkpoint.format(quality=quality)).expanduser()
        return release_location(quality)

    def load_net(self, op: OperatingPoint) -> Any:
        from rdpbench.weights import fetch_checkpoint

        self.requirements()
        quality = int(op["quality"])
        url, path = self.location(quality)
        if url:
            fetch_checkpoint(url, path, f"MS-ILLM quality {quality}")
        net = self.architecture_class()(**self.architecture)
        try:
            net.load_state_dict(load_checkpoint(path, "codec 'msillm'"))
        except RuntimeError as exc:
            raise WeightsError(f"codec 'msillm': {path} does not fit HiFiCAutoencoder({self.architecture}) ({exc})") from exc
        return net

    def latent_levels(self, net: Any) -> list[LatentLevel]:
        """HiFiC: latent y (Gaussian conditional) at 1/16, hyper-latent z (entropy bottleneck) at 1/64."""
        return [LatentLevel(net.latent_bottleneck, net.hyper_synthesis_scale[-1].out_channels, 16, False),
                LatentLevel(net.hyper_bottleneck, net.hyper_bottleneck.channels, 64, True)]

    def config(self) -> dict[str, Any]:
        try:
            from neuralcompression.version import __version__ as nc_version
        except ImportError:
            nc_version = None
        return {**super().config(), "neuralcompression": nc_version, "checkpoint": self.checkpoint,
                "architecture": self.architecture}
