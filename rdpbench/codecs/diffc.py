"""DiffC (Vonderfecht & Liu, ICLR 2025) on the generative-codec kit: nothing explicit, no condition.

Stream = header (W, H, `steps` = k) | side | rcc | check (rdpbench.rcc.container), all counted.
What is DiffC's own is only its settings: the denoiser's latent space supplies the step range,
chunking and tiles unless the config overrides them (`Denoiser.codec_defaults`).
"""

from __future__ import annotations

from typing import Any

from rdpbench.codecs.base import Knob
from rdpbench.codecs.generative import TiledLatentCodec, as_denoiser, latent_coding_options
from rdpbench.codecs.registry import register_codec


@register_codec
class DiffC(TiledLatentCodec):
    """Vonderfecht & Liu's DiffC with our bitstream (KL table sent, every byte counted, seeded)."""

    name = "diffc"
    codec_id = 40
    knobs = (Knob("steps", 1, 1000),)

    def __init__(self, denoiser: Any, ops=None, seed: int = 0, num_steps: int | None = None,
                 t_max: int | None = None, t_min: int | None = None, chunk_kl_bits: float | None = None,
                 slack_bits: float | None = None, max_bits: int | None = None, kl_levels: int = 16,
                 decoder: str = "flow", decode_steps: int = 50, tile_size: int | None = None,
                 tile_overlap: int | None = None, check_bytes: int = 1) -> None:
        denoiser = as_denoiser(denoiser, self.name)
        o = latent_coding_options(denoiser, ops, seed, kl_levels, decoder, decode_steps, num_steps=num_steps,
                                  t_max=t_max, t_min=t_min, chunk_kl_bits=chunk_kl_bits, slack_bits=slack_bits,
                                  max_bits=max_bits, tile_size=tile_size, tile_overlap=tile_overlap)
        super().__init__(denoiser, o.settings, o.tile_size, o.tile_overlap, check_bytes, o.ops)
