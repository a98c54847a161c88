"""What a denoiser may condition on besides x_t, and the one function that builds it.

The encoder and the decoder must condition on the same thing, so a Condition is built only
from what the decoder has: decoded bytes (a base codec's reconstruction, transmitted tags)
and the tile geometry. `from_base` is that function for base-codec conditioning; encoders
call it on the base reconstruction *decoded from the base bytes*, never on encoder state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rdpbench.diffusion.base import Denoiser

Box = tuple[int, int, int, int]  # top, left, height, width on the padded canvas


@dataclass(frozen=True, eq=False)
class Condition:
    """Inputs of a conditioned denoiser for one tile (every field optional: backends use what they know).

    base_image   uint8 h x w x 3, the decoded base reconstruction of this tile (ControlNet hint)
    base_latent  the same in the denoiser's latent space (SDEdit-like starts, the Gaussian oracle)
    observation  which fitted observation model describes the base (e.g. "ultralow:step=2.0")
    prompt       per-image text for cross-attention (e.g. the transmitted tags, comma-joined)
    box          the tile on the padded canvas
    """

    base_image: np.ndarray | None = None
    base_latent: np.ndarray | None = None
    observation: str | None = None
    prompt: str | None = None
    box: Box | None = None


def from_base(denoiser: "Denoiser", base_tile: np.ndarray, box: Box, observation: str | None = None,
              prompt: str | None = None) -> Condition:
    """The condition of one tile given its decoded base reconstruction (same call on both sides)."""
    return Condition(base_image=base_tile, base_latent=denoiser.to_latent(base_tile), observation=observation,
                     prompt=prompt, box=box)
