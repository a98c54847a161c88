"""The learned-codec base: any CompressAI CompressionModel as an rdpbench codec.

Payload = CompressAI's rANS strings, one per latent level (y, and z for hyperprior
models), in a small container: a varint length before every string but the last,
which runs to the end of the payload. The latent shape is not sent: the decoder
derives it from the image size in the rdpbench header, because the image is padded
(replicate, right/bottom) to a multiple of 64 before analysis and the latent of the
last level is padded_size / net.downsampling_factor. bpp counts the original W x H.

Determinism: entropy-coder indexes come from float convolutions (h_s); a different
thread count may round differently and make the decoder pick other CDFs, which
corrupts the whole image. compress/decompress therefore run single-threaded, so a
fresh process on the same machine reproduces the bytes and the pixels. CompressAI
does not promise this across CPUs/GPUs; neither do we.

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

import contextlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Iterator, Sequence

import numpy as np

from rdpbench.bitstream import MAX_CHECK_BYTES, Header, check_value, read_varint, split_check, write_varint
from rdpbench.codecs.base import Codec, OperatingPoint
from rdpbench.errors import BitstreamError, CodecError, ConfigError, WeightsError

PAD_MULTIPLE = 64  # 2^6: the total downsampling of every CompressAI hyperprior-class model
# 2 bytes cost 16 bits per image, 0.43% of the bytes of `ultralow` at 0.01 bpp on Kodak (1 byte: 0.22%),
# and let 1 in 65536 corrupted streams through (1 byte: 1 in 256); benchmarks/bench_check_bytes.py.
DEFAULT_CHECK_BYTES = 2
RANS_WORD = 4  # CompressAI's rANS writes 32-bit words ...
RANS_STATE_BYTES = 8  # ... and ends with the 64-bit coder state
LEVEL_NAMES = ("y", "z")


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


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def padded_size(height: int, width: int, multiple: int = PAD_MULTIPLE) -> tuple[int, int]:
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


def image_to_tensor(image: np.ndarray, device: Any) -> Any:
    """uint8 HxWx3 -> float 1x3xH'xW' in [0, 1], replicate-padded to a multiple of 64."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(image.copy()).permute(2, 0, 1).unsqueeze(0).float().div(255)
    ph, pw = padded_size(*image.shape[:2])
    x = F.pad(x, (0, pw - image.shape[1], 0, ph - image.shape[0]), mode="replicate")
    return x.to(device)


def tensor_to_image(x: Any, height: int, width: int) -> np.ndarray:
    # NaN (a corrupt latent through the synthesis) -> 0: a defined value, not a platform's cast of NaN
    x = x[0, :, :height, :width].nan_to_num(0.0).clamp(0, 1).mul(255).round().to("cpu")
    return x.byte().permute(1, 2, 0).numpy().copy()


class CompressAIModelCodec(Codec):
    """Any CompressAI CompressionModel: nets are loaded lazily (one per op), once per process."""

    n_levels: ClassVar[int] = 2  # latent levels with a string: 1 for factorized priors, 2 for hyperpriors

    def __init__(self, ops=None, device: str = "cpu", check_bytes: int = DEFAULT_CHECK_BYTES) -> None:
        from rdpbench.device import resolve_device

        if not 0 <= check_bytes <= MAX_CHECK_BYTES:
            raise ConfigError(f"codec {self.name!r}: check_bytes={check_bytes} not in 0..{MAX_CHECK_BYTES}")
        self.device = resolve_device(device)
        self.check_bytes = check_bytes
        self._nets: dict[tuple, Any] = {}
        super().__init__(ops)

    def net_key(self, op: OperatingPoint) -> tuple:
        """Ops that share a net share a key (a quantisation-step knob does not change the net)."""
        return tuple(sorted(op.items()))

    def load_net(self, op: OperatingPoint) -> Any:
        raise NotImplementedError

    def net(self, op: OperatingPoint) -> Any:
        key = self.net_key(op)
        if key not in self._nets:
            net = self.load_net(op)
            net.update()  # builds CDF tables only if the checkpoint lacks them
            self._nets[key] = net.eval().to(self.device)
        return self._nets[key]

    def compress(self, net: Any, x: Any, op: OperatingPoint) -> list[list[bytes]]:
        return net.compress(x)["strings"]

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
        factor = net.downsampling_factor
        return net.decompress(strings, (padded[0] // factor, padded[1] // factor))["x_hat"]

    def encode_payload(self, image: np.ndarray, op: OperatingPoint) -> bytes:
        import torch

        net = self.net(op)
        with torch.inference_mode(), single_thread():
            strings = self.compress(net, image_to_tensor(image, self.device), op)
        if len(strings) != self.n_levels:
            raise CodecError(f"codec {self.name!r}: model produced {len(strings)} latent strings, "
                             f"expected {self.n_levels}")
        body = pack_strings(strings)
        header = self.header_for(image.shape[1], image.shape[0], op).pack()
        return body + check_value(header + body, self.check_bytes)

    def _strings(self, payload: bytes, header: Header) -> list[bytes]:
        """The latent strings of a payload, its check verified (header included)."""
        packed = header.pack()
        body = split_check(packed + payload, self.check_bytes, self.name)[len(packed):]
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
        """Header, the varint lengths, the main latent y, (hyperpriors) the side information z, the check."""
        header, _, size = self.parse_header(stream)
        payload = stream[size:]
        strings = self._strings(payload, header)
        lengths = {name: len(string) for name, string in zip(LEVEL_NAMES, strings)}
        return {"header": size, "lengths": len(payload) - self.check_bytes - sum(lengths.values()), **lengths,
                "check": self.check_bytes}

    def config(self) -> dict[str, Any]:
        import compressai

        return {**super().config(), "compressai": compressai.__version__, "pad_multiple": PAD_MULTIPLE,
                "device": str(self.device), "check_bytes": self.check_bytes}


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
