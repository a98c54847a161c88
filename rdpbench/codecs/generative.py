"""The generative-codec kit: a tiled latent codec that sends noisy latents by reverse channel coding.

Stream = rdpbench header | explicit sections (the subclass's: a base-codec sub-stream, tags...) |
RCC container (side | rcc | check, rdpbench.rcc.container). Every byte is counted in bpp and each
section is reported by `sections()`.

What the base does once for every codec on it:
- geometry: the image is padded to the latent grid and cut into overlapping tiles; each tile has
  its own seed stream (its index enters every PRNG key) and its own side info, and decoded tiles
  are blended (rdpbench.tiles);
- the DiffC engine per tile, conditioned on a `Condition` that `tile_condition` builds from the
  *decoded* explicit part (the encoder decodes its own explicit bytes first, so both sides
  condition on the same thing), optionally starting from a latent (`tile_start`);
- progressive coding: one trace of K steps serves every step count k <= K (every prefix is a
  valid stream), cached per image and explicit part, so rate control and `encode_many` run the
  engine once;
- the container's CRC is verified before any explicit section is decoded.

A subclass says what is its own: the explicit sections (`write_explicit`, `explicit_sections`,
`explicit_state`), the condition (`tile_condition`, `tile_start`), extra knobs and config.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Iterable, Mapping

import numpy as np

from rdpbench.bitstream import Header
from rdpbench.codecs.base import Codec, Knob, OperatingPoint, as_rgb8
from rdpbench.diffusion.base import Denoiser
from rdpbench.diffusion.conditioning import Condition
from rdpbench.diffusion.diffc_engine import DiffCEngine, DiffCSettings, StepRecord
from rdpbench.errors import BitstreamError, ConfigError
from rdpbench.rcc import RCCContainer, RCCPayload, RCCSettings, TileSteps
from rdpbench.tiles import Box, TileGrid


def as_denoiser(denoiser: Any, codec: str) -> Denoiser:
    """Hydra instantiates nested `_target_` configs recursively; accept a raw config too."""
    if isinstance(denoiser, Denoiser):
        return denoiser
    if isinstance(denoiser, Mapping) and "_target_" in denoiser:
        from hydra.utils import instantiate

        return instantiate(dict(denoiser))
    raise ConfigError(f"codec {codec!r}: denoiser must be a Denoiser or a config with _target_, got {type(denoiser)}")


@dataclass(frozen=True)
class LatentCodingOptions:
    """A DiffC-family codec's settings, with the denoiser's defaults for its latent space filled in."""

    settings: DiffCSettings
    tile_size: int
    tile_overlap: int
    ops: Any


def latent_coding_options(denoiser: Denoiser, ops: Any, seed: int, kl_levels: int, decoder: str, decode_steps: int,
                          **given: Any) -> LatentCodingOptions:
    """Config values of None take `denoiser.codec_defaults` (step range, chunking, tiles, ops), so
    `codec/denoiser=...` alone retunes a codec; the resolved values enter the codec's config hash.
    `given` holds num_steps, t_max, t_min, chunk_kl_bits, slack_bits, max_bits, tile_size, tile_overlap."""
    opts = {**denoiser.codec_defaults, **{k: v for k, v in given.items() if v is not None}}
    settings = DiffCSettings(seed=seed, num_steps=int(opts["num_steps"]), t_max=int(opts["t_max"]),
                             t_min=int(opts["t_min"]),
                             rcc=RCCSettings(float(opts["chunk_kl_bits"]), float(opts["slack_bits"]),
                                             int(opts["max_bits"])),
                             kl_levels=kl_levels, decoder=decoder, decode_steps=decode_steps)
    if ops is None:  # the denoiser's default list, cut to this schedule
        ops = {"steps": [k for k in opts["ops"]["steps"] if k <= settings.num_steps]}
    return LatentCodingOptions(settings, int(opts["tile_size"]), int(opts["tile_overlap"]), ops)


@dataclass
class Trace:
    """One image's encoder run under one explicit part: the records of any step prefix make a stream."""

    explicit: bytes
    steps: int
    tiles: list[list[StepRecord]]

    def prefix(self, steps: int) -> list[TileSteps]:
        return [TileSteps(tuple(r.kl_code for r in t[:steps]), tuple(r.indices for r in t[:steps]))
                for t in self.tiles]


@dataclass(frozen=True)
class ParsedStream:
    """A stream read back from its bytes: what every decode-side method works from."""

    header: Header
    op: OperatingPoint
    explicit: bytes
    rcc: RCCPayload
    sections: dict[str, int]


class TiledLatentCodec(Codec):
    """Base of DiffC-family codecs; subclasses set name, codec_id, knobs and what is their own."""

    progressive: ClassVar[bool] = True
    rate_knob = "steps"
    #: knobs that change neither the explicit part nor the trace (a prefix length, decode-side knobs):
    #: ops that differ only in these share one encoder run
    trace_free_knobs: ClassVar[tuple[str, ...]] = ("steps",)

    def __init__(self, denoiser: Any, settings: DiffCSettings, tile_size: int, tile_overlap: int, check_bytes: int,
                 ops: Any) -> None:
        self.denoiser = as_denoiser(denoiser, self.name)
        self.settings = settings
        self.tile_size, self.tile_overlap = int(tile_size), int(tile_overlap)
        TileGrid(self.tile_size, self.tile_overlap)  # refuse a bad overlap now; the latent multiple comes later
        self.container = RCCContainer(settings.rcc, settings.kl_levels, check_bytes, self.name)
        self._engine: DiffCEngine | None = None
        self._grid: TileGrid | None = None
        self._traces: dict[tuple[bytes, str], Trace] = {}
        super().__init__(ops)

    @property
    def grid(self) -> TileGrid:
        """Built on first use: a weights-backed denoiser knows its latent downsampling once loaded."""
        if self._grid is None:
            try:
                self._grid = TileGrid(self.tile_size, self.tile_overlap, self.denoiser.downsample)
            except ConfigError as exc:
                raise ConfigError(f"codec {self.name!r}: {exc}") from exc
        return self._grid

    @property
    def engine(self) -> DiffCEngine:
        if self._engine is None:
            self._engine = DiffCEngine(self.denoiser, self.settings)
        return self._engine

    # --- configuration -------------------------------------------------------------
    def all_knobs(self) -> tuple[Knob, ...]:
        """`steps` ranges over this instance's schedule, so rate control bisects only valid prefixes."""
        return (Knob("steps", 1, self.settings.num_steps),)

    def config(self) -> dict[str, Any]:
        return {**super().config(), **asdict(self.settings), "tile_size": self.tile_size,
                "tile_overlap": self.tile_overlap, "check_bytes": self.container.check_bytes,
                "denoiser": self.denoiser.config()}

    def requirements(self) -> str:
        return self.denoiser.requirements()

    # --- what a subclass adds (the defaults are plain DiffC: nothing explicit, no condition) ---------
    def write_explicit(self, image: np.ndarray, op: OperatingPoint) -> bytes:
        """Encoder: the explicit sections that precede the RCC container."""
        return b""

    def explicit_sections(self, payload: bytes, header: Header, op: OperatingPoint) -> dict[str, int]:
        """Byte count of each explicit section at the start of `payload` (parsing only, no decoding)."""
        return {}

    def explicit_state(self, explicit: bytes, header: Header, op: OperatingPoint) -> Any:
        """Decode the explicit bytes (and nothing else) into what `tile_condition` needs."""
        return None

    def tile_condition(self, state: Any, box: Box, tile: int, op: OperatingPoint) -> Condition | None:
        return None

    def tile_start(self, cond: Condition | None, op: OperatingPoint) -> np.ndarray | None:
        """A latent to start x_{t_0} from (noised to t_0 with the shared seed); None = pure noise."""
        return None

    # --- shared by both sides ----------------------------------------------------------
    def tile_dims(self, height: int, width: int) -> list[int]:
        channels = self.denoiser.latent_channels
        return [int(np.prod(self.grid.latent_shape(box, channels))) for box in self.grid.boxes(height, width)]

    def conditions(self, explicit: bytes, header: Header, op: OperatingPoint) -> list[Condition | None]:
        """One condition per tile, from the explicit bytes alone (the same call on both sides)."""
        state = self.explicit_state(explicit, header, op)
        return [self.tile_condition(state, box, tile, op)
                for tile, box in enumerate(self.grid.boxes(header.height, header.width))]

    def header(self, image: np.ndarray, op: OperatingPoint) -> Header:
        fields = tuple(k.to_field(op[k.name]) for k in self.all_knobs())
        return Header(self.codec_id, image.shape[1], image.shape[0], fields)

    # --- encoder -----------------------------------------------------------------------
    def trace(self, image: np.ndarray, op: OperatingPoint, steps: int, on_step=None) -> Trace:
        """Encode every tile up to `steps` steps at `op`'s explicit part; `on_step(tile, k, x_k)` observes."""
        header = self.header(image, op)
        explicit = self.write_explicit(image, op)
        conds = self.conditions(explicit, header, op)
        padded = self.grid.pad(image)
        tiles = []
        for tile, ((top, left, th, tw), cond) in enumerate(zip(self.grid.boxes(*image.shape[:2]), conds)):
            x0 = self.denoiser.to_latent(padded[top:top + th, left:left + tw])
            hook = (lambda k, x, tile=tile: on_step(tile, k, x)) if on_step else None
            tiles.append(self.engine.encode(x0, tile, steps, hook, cond, self.tile_start(cond, op)))
        return Trace(explicit, steps, tiles)

    def _cached_trace(self, image: np.ndarray, op: OperatingPoint, steps: int) -> Trace:
        """Rate control encodes one image at many step counts: every prefix of one run serves them all."""
        digest = hashlib.sha256(image.tobytes() + repr(image.shape).encode()).digest()
        group = self._group(op)
        if any(key[0] != digest for key in self._traces):
            self._traces.clear()  # one image at a time: memory stays one image's traces
        cached = self._traces.get((digest, group))
        if cached is None or cached.steps < steps:
            cached = self._traces[(digest, group)] = self.trace(image, op, steps)
        return cached

    def _stream(self, image: np.ndarray, op: OperatingPoint, trace: Trace) -> bytes:
        covered = self.header(image, op).pack() + trace.explicit
        return covered + self.container.pack(covered, trace.prefix(op["steps"]), self.tile_dims(*image.shape[:2]))

    def encode_payload(self, image: np.ndarray, op: OperatingPoint) -> bytes:
        stream = self._stream(image, op, self._cached_trace(image, op, op["steps"]))
        return stream[len(self.header(image, op).pack()):]

    def encode_many(self, image: np.ndarray, ops: Iterable[OperatingPoint]) -> list[bytes]:
        """One engine run per explicit part, up to its largest step count, yields all of its ops."""
        image = as_rgb8(image, f"codec {self.name!r}")
        ops = [self.validate(op) for op in ops]
        deepest: dict[str, int] = {}
        for op in ops:
            deepest[self._group(op)] = max(deepest.get(self._group(op), 0), op["steps"])
        return [self._stream(image, op, self._cached_trace(image, op, deepest[self._group(op)])) for op in ops]

    def _group(self, op: OperatingPoint) -> str:
        """Ops with one group share the explicit part and the encoder run."""
        return repr(sorted((k, v) for k, v in op.items() if k not in self.trace_free_knobs))

    # --- decoder -----------------------------------------------------------------------
    def read_stream(self, stream: bytes) -> ParsedStream:
        """Header, CRC, explicit sections and RCC records from the bytes alone (no engine run)."""
        header, op, size = self.parse_header(stream)
        steps = op["steps"]
        if steps > self.settings.num_steps:
            raise BitstreamError(f"codec {self.name!r}: stream has steps={steps} > num_steps="
                                 f"{self.settings.num_steps} (corrupt, or encoded with another config)")
        checked = self.container.verified(stream)
        payload = checked[size:]
        explicit_sizes = self.explicit_sections(payload, header, op)
        explicit_size = sum(explicit_sizes.values())
        if explicit_size > len(payload):
            raise BitstreamError(f"codec {self.name!r}: explicit sections need {explicit_size} bytes, "
                                 f"{len(payload)} left (truncated stream)")
        rcc = self.container.read(payload[explicit_size:], steps, self.tile_dims(header.height, header.width))
        return ParsedStream(header, op, payload[:explicit_size], rcc,
                            {"header": size, **explicit_sizes, **rcc.sections})

    def decode_latents(self, stream: bytes) -> list[np.ndarray]:
        """x_{t_k} of every tile, from the bytes alone (what the independence test compares)."""
        parsed = self.read_stream(stream)
        return [x for x, _ in self._replay(parsed)]

    def _replay(self, parsed: ParsedStream) -> list[tuple[np.ndarray, Condition | None]]:
        header, op = parsed.header, parsed.op
        conds = self.conditions(parsed.explicit, header, op)
        channels = self.denoiser.latent_channels
        return [(self.engine.replay(self.grid.latent_shape(box, channels), tile, records, cond,
                                    self.tile_start(cond, op)), cond)
                for tile, (box, records, cond) in enumerate(zip(self.grid.boxes(header.height, header.width),
                                                                parsed.rcc.tiles, conds))]

    def decode_tile(self, x: np.ndarray, tile: int, cond: Condition | None, op: OperatingPoint) -> np.ndarray:
        """From a tile's x_{t_k} to its pixels: the engine's denoiser to t = 0, then the latent decoder."""
        return self.denoiser.to_image(self.engine.denoise(x, op["steps"], tile, cond))

    def decode_payload(self, payload: bytes, header: Header, op: OperatingPoint) -> np.ndarray:
        parsed = self.read_stream(header.pack() + payload)
        blender = self.grid.blender(header.height, header.width)
        for tile, (box, (x, cond)) in enumerate(zip(self.grid.boxes(header.height, header.width),
                                                    self._replay(parsed))):
            blender.add(box, self.decode_tile(x, tile, cond, op))
        return blender.result()[:header.height, :header.width]

    def sections(self, stream: bytes) -> dict[str, int]:
        return self.read_stream(stream).sections
