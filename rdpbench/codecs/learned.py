"""The learned-codec base: any CompressAI CompressionModel as an rdpbench codec.

Payload = CompressAI's rANS strings, one per latent level (y, and z for hyperprior
models), in a small container: a varint length before every string but the last,
which runs to the end of the payload. The latent shape is not sent: the decoder
derives it from the image size in the rdpbench header, because the image is padded
(replicate, right/bottom) to a multiple of 64 before analysis and the latent of the
last level is padded_size / net.downsampling_factor. bpp counts the original W x H.

Portable streams: the range coder's parameters (CDF indexes, means) come from the hyper-synthesis
h_s; computed on a GPU, or with another thread count, their last bits differ, an index flips and
the decoder reads garbage for the whole image, silently (CompressAI issues #20, #279). For the
hyperprior family (ScaleHyperprior, MeanScaleHyperprior, MS-ILLM's HiFiC) the whole hyper path
(h_a, the z coder, h_s, the y coder) therefore runs on a float64 copy on the host, single-threaded
(`HostHyperPath`): a stream encoded on CUDA entropy-decodes to the identical latents on a CPU and
back (a flip would need a float64 rounding difference at a scale-table boundary). The main
transforms g_a, g_s stay on the run's device in float32: the decoded pixels may differ between
devices by their rounding only. Factorized priors have fixed tables (portable as they are). For
autoregressive context models (mbt2018, cheng2020) the parameters come from the main-latent
context on the device; there the device class travels in a one-byte `device` section and a
decoder on another device class refuses the stream. On the CPU, compress/decompress run
single-threaded, so a fresh process reproduces the bytes and the pixels.

Adapters on this base: the CompressAI zoo (compressai_zoo.py), the shipped `ultralow`
model (trained.py) and MS-ILLM (msillm.py); the generative codecs reuse it for their
base streams.

Hostile streams: CompressAI's rANS decoder (C++) reads 32-bit words with no bounds check
and trusts the symbol count it is given, so before it runs: the string of every latent
level must be whole 32-bit words (at least the 8-byte final state), and long enough for
the symbols the header's image size implies (each symbol costs at least -log2 of the
largest probability in its CDF table, a bound read off the model's quantised CDFs); then
it is zero-padded by 4 bytes per symbol (one 32-bit word per decoded symbol is the most
the symbol decoder reads, with room to spare for the bypass words of escaped values), so
no read leaves the buffer and a corrupt string decodes the same way every time.
`check_bytes` (default 2) appends the low bytes of CRC-32 over header and strings (section
`check`, counted in bpp) so a corrupted stream is an error rather than a plausible image;
0 turns it off.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from rdpbench.bitstream import Header, check_value, checked_check_bytes, read_varint, split_check, write_varint
from rdpbench.codecs.base import Codec, OperatingPoint
from rdpbench.device import single_thread
from rdpbench.errors import BitstreamError, CodecError, ConfigError, WeightsError

PAD_MULTIPLE = 64  # 2^6: the total downsampling of every CompressAI hyperprior-class model
# 2 bytes cost 16 bits per image, 0.43% of the bytes of `ultralow` at 0.01 bpp on Kodak (1 byte: 0.22%),
# and let 1 in 65536 corrupted streams through (1 byte: 1 in 256); benchmarks/bench_check_bytes.py.
DEFAULT_CHECK_BYTES = 2
RANS_WORD = 4  # CompressAI's rANS writes 32-bit words ...
RANS_STATE_BYTES = 8  # ... and ends with the 64-bit coder state
LEVEL_NAMES = ("y", "z")
#: the device class a device-dependent (autoregressive) stream was made on, as its `device` byte
DEVICE_CODES = {"cpu": 0, "cuda": 1, "mps": 2}


@dataclass(frozen=True)
class LatentLevel:
    """One entropy-coded latent: its CompressAI entropy model, channels, and downsampling from the padded image."""

    model: Any  # compressai.entropy_models.EntropyModel
    channels: int
    factor: int
    per_channel: bool  # EntropyBottleneck: one CDF table per channel; GaussianConditional: chosen per symbol


def pack_strings(levels: Sequence[Sequence[bytes]]) -> bytes:
    """[[y_string], [z_string]] (batch of one) -> varint-length-prefixed bytes, last length implicit."""
    parts = []
    for i, level in enumerate(levels):
        if len(level) != 1:
            raise CodecError(f"expected one string per latent level (batch of one), got {len(level)}")
        if i < len(levels) - 1:
            parts.append(write_varint(len(level[0])))
        parts.append(level[0])
    return b"".join(parts)


def unpack_strings(payload: bytes, n_levels: int) -> list[list[bytes]]:
    levels, pos = [], 0
    for _ in range(n_levels - 1):
        length, pos = read_varint(payload, pos, "lengths")
        if pos + length > len(payload):
            raise BitstreamError(f"bitstream truncated: latent string of {length} bytes, "
                                 f"{len(payload) - pos} left", section="lengths")
        levels.append([payload[pos:pos + length]])
        pos += length
    levels.append([payload[pos:]])
    return levels


def padded_size(height: int, width: int, multiple: int = PAD_MULTIPLE) -> tuple[int, int]:
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


def image_to_tensor(image: np.ndarray, device: Any, multiple: int = PAD_MULTIPLE) -> Any:
    """uint8 HxWx3 -> float 1x3xH'xW' in [0, 1], replicate-padded to a multiple of `multiple` (64)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(image.copy()).permute(2, 0, 1).unsqueeze(0).float().div(255)
    ph, pw = padded_size(*image.shape[:2], multiple)
    x = F.pad(x, (0, pw - image.shape[1], 0, ph - image.shape[0]), mode="replicate")
    return x.to(device)


def tensor_to_image(x: Any, height: int, width: int) -> np.ndarray:
    # NaN (a corrupt latent through the synthesis) -> 0: a defined value, not a platform's cast of NaN
    x = x[0, :, :height, :width].nan_to_num(0.0).clamp(0, 1).mul(255).round().to("cpu")
    return x.byte().permute(1, 2, 0).numpy().copy()


@dataclass(frozen=True)
class HyperpriorLayout:
    """Where a hyperprior-family net keeps its parts (attribute names) and how its hyper-synthesis reads."""

    analysis: str = "g_a"
    synthesis: str = "g_s"
    hyper_analysis: str = "h_a"
    bottleneck: str = "entropy_bottleneck"
    conditional: str = "gaussian_conditional"
    hyper_synthesis: tuple[str, ...] = ("h_s",)  # one module (scales, or scales|means stacked) or two (scales, means)
    means: bool = False  # the hyper-synthesis gives means too (mean-scale hyperprior)
    abs_latent: bool = False  # the hyper-analysis sees |y| (Balle et al. 2018)


def hyperprior_layout(architecture: type) -> HyperpriorLayout | None:
    """The layout of a hyperprior-family class (exact class: the autoregressive models subclass these)."""
    from compressai.models import MeanScaleHyperprior, ScaleHyperprior

    layouts: dict[type, HyperpriorLayout] = {ScaleHyperprior: HyperpriorLayout(abs_latent=True),
                                             MeanScaleHyperprior: HyperpriorLayout(means=True)}
    try:
        from neuralcompression.models import HiFiCAutoencoder

        layouts[HiFiCAutoencoder] = HyperpriorLayout("encoder", "decoder", "hyper_analysis", "hyper_bottleneck",
                                                     "latent_bottleneck",
                                                     ("hyper_synthesis_scale", "hyper_synthesis_mean"), means=True)
    except ImportError:
        pass
    return layouts.get(architecture)


@dataclass(frozen=True)
class HyperLatents:
    """What a hyperprior stream entropy-decodes to: identical on every device (see the module doc)."""

    z_hat: Any
    indexes: Any
    means: Any
    y_hat: Any


class HostHyperPath:
    """A hyperprior net's hyper path (h_a, z coder, h_s, y coder) as a float64 copy on the host.

    Only CompressAI's own entropy-model calls run here, on copies of the trained modules; the
    copies are made once per net, before it moves to its device.
    """

    def __init__(self, net: Any, layout: HyperpriorLayout) -> None:
        import torch

        def host(name: str) -> Any:
            return copy.deepcopy(getattr(net, name)).to("cpu", torch.float64).eval()

        self.layout = layout
        self.hyper_analysis, self.bottleneck = host(layout.hyper_analysis), host(layout.bottleneck)
        self.conditional = host(layout.conditional)
        self.hyper_synthesis = [host(name) for name in layout.hyper_synthesis]

    def parameters(self, z_hat: Any, step: float) -> tuple[Any, Any]:
        """(CDF indexes, means) of y / step from the decoded hyper-latent."""
        out = [module(z_hat) for module in self.hyper_synthesis]
        if len(out) == 2:
            scales, means = out
        elif self.layout.means:
            scales, means = out[0].chunk(2, 1)
        else:
            scales, means = out[0], None
        return self.conditional.build_indexes(scales / step), None if means is None else means / step

    def compress(self, y: Any, step: float, hyper_input: Any = None) -> list[list[bytes]]:
        """[y strings, z strings] of the main latent y (any device), y quantised with `step`.
        `hyper_input`: what the hyper-analysis sees when it is more than y (SPRDiff's fused features)."""
        import torch

        y = y.to("cpu", torch.float64)
        if hyper_input is None:
            hyper_input = y.abs() if self.layout.abs_latent else y
        z = self.hyper_analysis(hyper_input.to("cpu", torch.float64))
        z_strings = self.bottleneck.compress(z)
        indexes, means = self.parameters(self.bottleneck.decompress(z_strings, z.shape[-2:]), step)
        return [self.conditional.compress(y / step, indexes, means=means), z_strings]

    def decompress(self, strings: list[list[bytes]], z_shape: tuple[int, int], step: float) -> HyperLatents:
        import torch

        z_hat = self.bottleneck.decompress(strings[1], z_shape)
        indexes, means = self.parameters(z_hat, step)
        y_hat = self.conditional.decompress(strings[0], indexes, torch.float64, means=means) * step
        return HyperLatents(z_hat, indexes, means, y_hat)


class CompressAIModelCodec(Codec):
    """Any CompressAI CompressionModel: nets are loaded lazily (one per op), once per process."""

    n_levels: ClassVar[int] = 2  # latent levels with a string: 1 for factorized priors, 2 for hyperpriors

    def __init__(self, ops=None, device: str = "cpu", check_bytes: int = DEFAULT_CHECK_BYTES) -> None:
        from rdpbench.device import torch_device

        self.check_bytes = checked_check_bytes(check_bytes, self.name)
        self.device = torch_device(device, f"codec {self.name!r}")
        self._nets: dict[tuple, Any] = {}
        self._host: dict[tuple, HostHyperPath] = {}
        super().__init__(ops)

    def net_key(self, op: OperatingPoint) -> tuple:
        """Ops that share a net share a key (a quantisation-step knob does not change the net)."""
        return tuple(sorted(op.items()))

    def load_net(self, op: OperatingPoint) -> Any:
        raise NotImplementedError

    def architecture_class(self) -> type:
        """The network class, known without loading weights (it decides the stream layout)."""
        raise NotImplementedError

    @property
    def layout(self) -> HyperpriorLayout | None:
        """The hyperprior layout whose hyper path runs on the host; None for other architectures."""
        return hyperprior_layout(self.architecture_class()) if self.n_levels == 2 else None

    @property
    def device_tagged(self) -> bool:
        """Streams whose entropy parameters depend on the device carry its class (autoregressive models)."""
        return self.n_levels == 2 and self.layout is None

    def net(self, op: OperatingPoint) -> Any:
        key = self.net_key(op)
        if key not in self._nets:
            net = self.load_net(op)
            net.update()  # builds CDF tables only if the checkpoint lacks them
            net = net.eval()
            if self.layout is not None:
                self._host[key] = HostHyperPath(net, self.layout)
            self._nets[key] = net.to(self.device)
        return self._nets[key]

    def latent_step(self, op: OperatingPoint) -> float:
        """Quantisation step of the main latent (1: as trained)."""
        return 1.0

    def compress(self, net: Any, x: Any, op: OperatingPoint) -> list[list[bytes]]:
        if self.layout is None:
            if self.latent_step(op) != 1:
                raise ConfigError(f"codec {self.name!r}: a latent quantisation step needs a hyperprior-family "
                                  f"architecture, not {self.architecture_class().__name__}")
            return net.compress(x)["strings"]
        analysis = getattr(net, self.layout.analysis)
        y = analysis(x.to(next(analysis.parameters()).dtype))
        return self._host[self.net_key(op)].compress(y, self.latent_step(op))

    def hyper_latents(self, net: Any, strings: list[list[bytes]], padded: tuple[int, int],
                      op: OperatingPoint) -> HyperLatents:
        """The entropy-decoded latents of a hyperprior stream (host, float64)."""
        z_shape = (padded[0] // PAD_MULTIPLE, padded[1] // PAD_MULTIPLE)  # every hyperprior's z is 1/64
        return self._host[self.net_key(op)].decompress(strings, z_shape, self.latent_step(op))

    def latent_levels(self, net: Any) -> list[LatentLevel]:
        """The entropy-coded latents in string order (y, then z for hyperpriors), for the size checks.

        CompressAI's image models: y has net.M channels at 1/16 of the padded size, coded by the
        entropy bottleneck (factorized prior) or the Gaussian conditional; z is the entropy
        bottleneck's at 1/downsampling_factor.
        """
        bottleneck = net.entropy_bottleneck
        if self.n_levels == 1:
            return [LatentLevel(bottleneck, bottleneck.channels, net.downsampling_factor, True)]
        return [LatentLevel(net.gaussian_conditional, net.M, 16, False),
                LatentLevel(bottleneck, bottleneck.channels, net.downsampling_factor, True)]

    def decompress(self, net: Any, strings: list[list[bytes]], padded: tuple[int, int], op: OperatingPoint) -> Any:
        """`padded` is the padded image size; the last latent level is downsampling_factor smaller."""
        if self.layout is None:
            factor = net.downsampling_factor
            return net.decompress(strings, (padded[0] // factor, padded[1] // factor))["x_hat"]
        synthesis = getattr(net, self.layout.synthesis)
        y_hat = self.hyper_latents(net, strings, padded, op).y_hat
        return synthesis(y_hat.to(self.device, next(synthesis.parameters()).dtype))

    def device_section(self) -> bytes:
        return bytes([DEVICE_CODES[self.device.type]]) if self.device_tagged else b""

    def encode_payload(self, image: np.ndarray, op: OperatingPoint) -> bytes:
        import torch

        net = self.net(op)
        with torch.inference_mode(), single_thread():
            strings = self.compress(net, image_to_tensor(image, self.device), op)
        if len(strings) != self.n_levels:
            raise CodecError(f"codec {self.name!r}: model produced {len(strings)} latent strings, "
                             f"expected {self.n_levels}")
        body = self.device_section() + pack_strings(strings)
        header = self.header_for(image.shape[1], image.shape[0], op).pack()
        return body + check_value(header + body, self.check_bytes)

    def _strings(self, payload: bytes, header: Header) -> list[bytes]:
        """The latent strings of a payload, its check verified (header included); a device-tagged one
        made on another device class is refused."""
        packed = header.pack()
        body = split_check(packed + payload, self.check_bytes, self.name)[len(packed):]
        if self.device_tagged:
            made_on = {code: kind for kind, code in DEVICE_CODES.items()}.get(body[0] if body else -1)
            if made_on is None:
                raise BitstreamError("missing or unknown device class (corrupt stream)", self.name, "device")
            if made_on != self.device.type:
                raise BitstreamError(f"this stream was encoded on {made_on}; the entropy parameters of an "
                                     f"autoregressive context model depend on the device, so decoding it on "
                                     f"{self.device.type} would give a wrong image: decode with device={made_on}",
                                     self.name, "device")
            body = body[1:]
        return [level[0] for level in unpack_strings(body, self.n_levels)]

    def checked_strings(self, net: Any, strings: list[bytes], padded: tuple[int, int]) -> list[list[bytes]]:
        """Refuse strings that cannot hold the latents of this image size; zero-pad the rest for the rANS decoder."""
        out = []
        for name, string, level in zip(LEVEL_NAMES, strings, self.latent_levels(net)):
            positions = (padded[0] // level.factor) * (padded[1] // level.factor)
            symbols = positions * level.channels
            if len(string) < RANS_STATE_BYTES or len(string) % RANS_WORD:
                raise BitstreamError(f"a rANS string is whole 32-bit words and at least {RANS_STATE_BYTES} bytes, "
                                     f"this one has {len(string)}", self.name, name)
            table_bits = min_symbol_bits(level.model)
            least = positions * float(table_bits.sum()) if level.per_channel else symbols * float(table_bits.min())
            if 8 * len(string) < least:
                raise BitstreamError(f"{len(string)} bytes cannot hold the {symbols} latent symbols of a "
                                     f"{padded[1]}x{padded[0]} (padded) image: they need at least {least / 8:.0f} "
                                     f"(corrupt image size or truncated stream)", self.name, name)
            out.append([string + bytes(RANS_WORD * symbols + RANS_STATE_BYTES)])
        return out

    def decode_latents(self, stream: bytes) -> HyperLatents:
        """What a hyperprior stream entropy-decodes to (the portability tests compare it across devices)."""
        import torch

        header, op, size = self.parse_header(stream)
        if self.layout is None:
            raise ConfigError(f"codec {self.name!r}: not a hyperprior-family architecture")
        net = self.net(op)
        padded = padded_size(header.height, header.width)
        strings = self.checked_strings(net, self._strings(stream[size:], header), padded)
        with torch.inference_mode(), single_thread():
            return self.hyper_latents(net, strings, padded, op)

    def decode_payload(self, payload: bytes, header: Header, op: OperatingPoint) -> np.ndarray:
        import torch

        strings = self._strings(payload, header)
        net = self.net(op)
        ph, pw = padded_size(header.height, header.width)
        padded_strings = self.checked_strings(net, strings, (ph, pw))
        with torch.inference_mode(), single_thread():
            x_hat = self.decompress(net, padded_strings, (ph, pw), op)
        if tuple(x_hat.shape[-2:]) != (ph, pw):
            raise BitstreamError(f"decoded {tuple(x_hat.shape[-2:])}, expected {(ph, pw)}", self.name, "payload")
        return tensor_to_image(x_hat, header.height, header.width)

    def sections(self, stream: bytes) -> dict[str, int]:
        """Header, (autoregressive models) the device byte, the varint lengths, the main latent y,
        (hyperpriors) the side information z, the check."""
        header, _, size = self.parse_header(stream)
        payload = stream[size:]
        strings = self._strings(payload, header)
        lengths = {name: len(string) for name, string in zip(LEVEL_NAMES, strings)}
        device = len(self.device_section())
        return {"header": size, **({"device": device} if device else {}),
                "lengths": len(payload) - self.check_bytes - device - sum(lengths.values()), **lengths,
                "check": self.check_bytes}

    def compute(self) -> tuple[str, str]:
        return self.device.type, "float32"

    def config(self) -> dict[str, Any]:
        import compressai

        entropy = ("float64 host" if self.layout else f"{self.device.type} (device class in the stream)"
                   if self.device_tagged else "fixed tables")
        return {**super().config(), "compressai": compressai.__version__, "pad_multiple": PAD_MULTIPLE,
                "device": self.device.type, "entropy_parameters": entropy, "check_bytes": self.check_bytes}


@lru_cache(maxsize=64)  # models are hashed by identity; a net's tables are fixed once it is built
def min_symbol_bits(model: Any) -> np.ndarray:
    """Per CDF table of a CompressAI entropy model, the fewest bits any symbol can cost: -log2(max pmf).

    Read from the model's quantised CDF buffers (what its rANS coder uses; built by update()).
    rANS spends at least the information content of the symbols it codes, so a string shorter
    than the sum of these bounds cannot be a stream of that many symbols.
    """
    cdf = model._quantized_cdf.cpu().numpy().astype(np.int64)
    lengths = model._cdf_length.cpu().numpy()
    precision = model.entropy_coder_precision
    largest = np.array([np.diff(row[:max(int(n), 2)]).max() for row, n in zip(cdf, lengths)], dtype=np.float64)
    return -np.log2(np.clip(largest, 1, 1 << precision) / (1 << precision))


def load_checkpoint(path: Path, what: str) -> dict[str, Any]:
    import torch

    if not path.is_file():
        raise WeightsError(f"{what}: checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged file
        raise WeightsError(f"{what}: cannot read checkpoint {path} ({type(exc).__name__}: {exc})") from exc
    return state.get("state_dict", state) if isinstance(state, dict) else state
