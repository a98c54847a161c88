"""A sketch codec on the generative kit (tests only, never shipped): a base codec + base-conditioned RCC.

Stream = header | base sub-stream | side | rcc | check. The denoiser is conditioned on the base
reconstruction decoded from the base bytes (both sides), and the RCC trajectory may start from the
base latent noised to t_0 (SDEdit-like). Its length is the measure of the kit: see test_generative_kit.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rdpbench.codecs.base import Codec, Knob, op_label
from rdpbench.codecs.composite import SubStream, joined_knobs
from rdpbench.codecs.generative import TiledLatentCodec
from rdpbench.diffusion.conditioning import Condition, from_base
from rdpbench.diffusion.diffc_engine import DiffCSettings


class BaseConditionedDiffC(TiledLatentCodec):
    name = "sketch-base-diffc"
    codec_id = 250
    knobs = ()

    def __init__(self, base: Codec, denoiser: Any, settings: DiffCSettings, tile_size: int = 64,
                 tile_overlap: int = 8, check_bytes: int = 1, ops=None, start_from_base: bool = False) -> None:
        self.base = SubStream(base, "base", self.name)
        self.start_from_base = start_from_base
        super().__init__(denoiser, settings, tile_size, tile_overlap, check_bytes, ops)

    def all_knobs(self) -> tuple[Knob, ...]:
        return joined_knobs(self.name, self.base.knobs, super().all_knobs())

    def write_explicit(self, image, op) -> bytes:
        return self.base.write(image, op)

    def explicit_sections(self, payload, header, op) -> dict[str, int]:
        return {"base": self.base.size(payload)}

    def explicit_state(self, explicit, header, op) -> np.ndarray:
        return self.grid.pad(self.base.decode(explicit, header, op))

    def tile_condition(self, state, box, tile, op) -> Condition:
        top, left, h, w = box
        return from_base(self.denoiser, state[top:top + h, left:left + w], box, observation=op_label(self.base.op(op)))

    def tile_start(self, cond, op):
        return cond.base_latent if self.start_from_base else None

    def config(self) -> dict[str, Any]:
        return {**super().config(), "base": self.base.codec.config(), "start_from_base": self.start_from_base}
