"""RCC backends: who draws and scores the candidates, and the code that says so in the stream.

A backend turns (m, chunk plan, PRNG key words) into the chosen indices and the sample, and the
indices back into the sample. Each backend has its own generator, so a stream's indices mean
something only to the backend that chose them: `code` travels in every stream (the owning codec
puts it in its header) and a decoder refuses a stream of another backend (`refuse_foreign`).

- `numpy` (code 0): rdpbench.rcc.chunked, numpy's Philox; the format of every stream written
  before backends existed, kept byte for byte.
- `torch-cpu` (1) and `torch-cuda` (2): rdpbench.rcc.torch_rcc, on the run's device.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from rdpbench.errors import BitstreamError, ConfigError
from rdpbench.rcc.chunked import ChunkPlan, decode_sample, encode_sample

#: stream code -> (backend name, the codec settings that decode it)
CODES: dict[int, tuple[str, str]] = {0: ("numpy", "rcc_backend=numpy"),
                                     1: ("torch-cpu", "rcc_backend=torch device=cpu"),
                                     2: ("torch-cuda", "rcc_backend=torch device=cuda")}


class RCCBackend(ABC):
    """Draws and scores candidates for one sample; `name` (and `code`) identify its stream format."""

    name: str  # the stream format of its candidates: a key of CODES' names

    @property
    def code(self) -> int:
        return next(code for code, (name, _) in CODES.items() if name == self.name)

    @property
    def device_class(self) -> str:
        """Where the candidates are drawn ('cpu' or 'cuda')."""
        return "cpu"

    @abstractmethod
    def encode_sample(self, m: np.ndarray, plan: ChunkPlan, words: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(chosen index per chunk, the sample u ~ approx N(m, I) as float32); `words` key every stream."""

    @abstractmethod
    def decode_sample(self, indices: np.ndarray, plan: ChunkPlan, words: tuple[int, ...], dim: int) -> np.ndarray:
        """u from the chosen indices alone (each chunk regenerates only what holds its candidate)."""

    def requirements(self) -> str:
        """Raise ConfigError naming what is missing; '' when ready."""
        return ""

    def refuse_foreign(self, code: int, codec: str) -> None:
        """BitstreamError unless a stream whose candidates carry `code` is this backend's."""
        if code == self.code:
            return
        if code not in CODES:
            raise BitstreamError(f"unknown RCC backend code {code} in the steps field (corrupt stream?)", codec,
                                 "header")
        made_by, settings = CODES[code]
        raise BitstreamError(f"this stream's candidates were drawn by the {made_by!r} RCC backend, this decoder "
                             f"draws them with {self.name!r}, so decoding it would give a wrong image; decode it "
                             f"with codec.{settings}", codec, "header")


class NumpyRCC(RCCBackend):
    """numpy's Philox and ziggurat on the host (rdpbench.rcc.chunked): the original stream format."""

    name = "numpy"

    def __init__(self, device: str = "cpu") -> None:
        """`device` is accepted for a uniform config and ignored: numpy runs on the host."""

    def encode_sample(self, m: np.ndarray, plan: ChunkPlan, words: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        return encode_sample(m, plan, words)

    def decode_sample(self, indices: np.ndarray, plan: ChunkPlan, words: tuple[int, ...], dim: int) -> np.ndarray:
        return decode_sample(indices, plan, words, dim)


def backend_for(kind: str, device: str = "cpu") -> RCCBackend:
    """The backend of a codec config: `kind` numpy | torch, on the run's `device`."""
    from rdpbench.rcc.torch_rcc import TorchRCC

    kinds: dict[str, type[RCCBackend]] = {"numpy": NumpyRCC, "torch": TorchRCC}
    if kind not in kinds:
        raise ConfigError(f"rcc_backend={kind!r}: choose one of {sorted(kinds)}")
    return kinds[kind](device)  # type: ignore[call-arg]
