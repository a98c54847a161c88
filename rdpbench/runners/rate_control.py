"""Per-image rate control: bisect a codec's rate knob to land at or just under a target bpp."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rdpbench.codecs.base import Codec, OperatingPoint


@dataclass(frozen=True)
class TargetResult:
    stream: bytes
    op: OperatingPoint
    reached: bool  # False: even the lowest rate is above the target; the lowest-rate stream is returned
    encodes: int


def stream_bpp(stream: bytes, image: np.ndarray) -> float:
    return 8.0 * len(stream) / (image.shape[0] * image.shape[1])


def bisect_to_target(codec: Codec, image: np.ndarray, base_op: OperatingPoint, target_bpp: float) -> TargetResult:
    """Largest-rate setting of `codec.rate_knob` whose stream has bpp <= target.

    Works in the knob's header field space (integers), so the result is an exact,
    transmittable operating point. Assumes rate is monotone in the knob, which holds
    for the classical codecs up to small wiggles; a wiggle can only make the answer
    slightly conservative, never exceed the target.
    """
    knob = codec.knob(codec.rate_knob)
    cache: dict[int, bytes] = {}

    def encode(field: int) -> bytes:
        if field not in cache:
            cache[field] = codec.encode(image, {**base_op, knob.name: knob.from_field(field)})
        return cache[field]

    def rate_order(i: int) -> int:  # position i in increasing-rate order -> field
        lo, hi = knob.to_field(knob.low), knob.to_field(knob.high)
        return lo + i if knob.rate_increasing else hi - i

    n = knob.values_between() + 1
    if stream_bpp(encode(rate_order(0)), image) > target_bpp:
        field = rate_order(0)
        return TargetResult(cache[field], {**base_op, knob.name: knob.from_field(field)}, False, len(cache))
    lo, hi = 0, n - 1  # invariant: bpp(lo) <= target
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if stream_bpp(encode(rate_order(mid)), image) <= target_bpp:
            lo = mid
        else:
            hi = mid - 1
    field = rate_order(lo)
    return TargetResult(encode(field), {**base_op, knob.name: knob.from_field(field)}, True, len(cache))
