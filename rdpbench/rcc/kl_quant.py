"""Quantise a step's KL for transmission: the decoder needs it to rebuild the chunk plan.

The public DiffC code never sends its KL table; we do, and count it. The code is
ceil(levels * log2(1 + KL_bits)): logarithmic so that a step of 20 000 bits still
fits a 2-byte varint, and rounded *up* so the chunk plan never budgets less KL
than the sample actually carries (too few candidates would bias the sample).
Both sides use the dequantised value.
"""

from __future__ import annotations

import math

from rdpbench.errors import BitstreamError

MAX_LOG2_BITS = 48  # a step never carries 2^48 bits; larger codes can only be corruption


def quantise_kl(kl_bits: float, levels: int) -> int:
    if not math.isfinite(kl_bits) or kl_bits >= 2.0 ** MAX_LOG2_BITS - 1:
        raise ValueError(f"rcc: a step KL of {kl_bits!r} bits cannot be sent (diverged denoiser?)")
    return max(0, math.ceil(levels * math.log2(1.0 + max(0.0, kl_bits)) - 1e-9))


def dequantise_kl(code: int, levels: int) -> float:
    if not 0 <= code <= MAX_LOG2_BITS * levels:
        raise BitstreamError(f"rcc: quantised KL code {code} out of range (corrupt bitstream)")
    return 2.0 ** (code / levels) - 1.0
