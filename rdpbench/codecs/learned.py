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
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, ClassVar, Iterator, Sequence

import numpy as np

from rdpbench.bitstream import Header, read_varint, write_varint
from rdpbench.codecs.base import Codec, OperatingPoint
from rdpbench.errors import BitstreamError, CodecError, WeightsError

PAD_MULTIPLE = 64  # 2^6: the total downsampling of every CompressAI hyperprior-class model
# Zero bytes appended to each string before rANS decoding: the C++ decoder reads 32-bit words
# without bounds checks, so a truncated/corrupt string must not make it read past the buffer.
DECODER_SLACK = bytes(64)


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
        length, pos = read_varint(payload, pos)
        if pos + length > len(payload):
            raise BitstreamError(f"bitstream truncated: latent string of {length} bytes, "
                                 f"{len(payload) - pos} left")
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
    x = x[0, :, :height, :width].clamp(0, 1).mul(255).round().to("cpu")
    return x.byte().permute(1, 2, 0).numpy().copy()


class CompressAIModelCodec(Codec):
    """Any CompressAI CompressionModel: nets are loaded lazily (one per op), once per process."""

    n_levels: ClassVar[int] = 2  # latent levels with a string: 1 for factorized priors, 2 for hyperpriors

    def __init__(self, ops=None, device: str = "cpu") -> None:
        from rdpbench.device import resolve_device

        self.device = resolve_device(device)
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
        return pack_strings(strings)

    def decode_payload(self, payload: bytes, header: Header, op: OperatingPoint) -> np.ndarray:
        import torch

        net = self.net(op)
        strings = [[s + DECODER_SLACK] for (s,) in unpack_strings(payload, self.n_levels)]
        ph, pw = padded_size(header.height, header.width)
        with torch.inference_mode(), single_thread():
            x_hat = self.decompress(net, strings, (ph, pw), op)
        if tuple(x_hat.shape[-2:]) != (ph, pw):
            raise BitstreamError(f"codec {self.name!r}: decoded {tuple(x_hat.shape[-2:])}, expected {(ph, pw)}")
        return tensor_to_image(x_hat, header.height, header.width)

    def sections(self, stream: bytes) -> dict[str, int]:
        """Header, the varint lengths, then the main latent y and (hyperpriors) the side information z."""
        _, _, size = self.parse_header(stream)
        payload = stream[size:]
        strings = unpack_strings(payload, self.n_levels)
        lengths = {name: len(level[0]) for name, level in zip(("y", "z"), strings)}
        return {"header": size, "lengths": len(payload) - sum(lengths.values()), **lengths}

    def config(self) -> dict[str, Any]:
        import compressai

        return {**super().config(), "compressai": compressai.__version__, "pad_multiple": PAD_MULTIPLE,
                "device": str(self.device)}


def load_checkpoint(path: Path, what: str) -> dict[str, Any]:
    import torch

    if not path.is_file():
        raise WeightsError(f"{what}: checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged file
        raise WeightsError(f"{what}: cannot read checkpoint {path} ({type(exc).__name__}: {exc})") from exc
    return state.get("state_dict", state) if isinstance(state, dict) else state
