"""DiffC on one latent tile: send x_{t_k} by reverse channel coding, then denoise (METHODS.md section 1).

The encoder and the decoder share `_step`: both compute the prior mean from the
same x_t with the same denoiser call, and x_s = mu_p + sigma * u with u the chosen
candidate *as the decoder regenerates it*, so the decoder's trajectory is the
encoder's, bit for bit. The chunk plan of a step is built from the quantised KL
(the value that travels), never from the exact one.

A `Condition` (built from decoded bytes on both sides) reaches every denoiser call, and a
`start` latent replaces the pure-noise x_{t_0} by that latent noised to t_0 with the shared
seed (the SDEdit-like start from a base reconstruction): both change the prior, never the
target q(x_s | x_t, x0), so the stream stays a valid DiffC stream under the conditioned model.
"""

from __future__ import annotations

import math
from functools import partial
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from rdpbench.diffusion.base import Denoiser
from rdpbench.diffusion.conditioning import Condition
from rdpbench.diffusion.schedules import ddim_step, posterior, spaced
from rdpbench.errors import CodecError, ConfigError
from rdpbench.rcc import ChunkPlan, NumpyRCC, RCCBackend, RCCSettings, TileSteps, quantise_kl
from rdpbench.rcc import prng

DECODERS = ("flow", "ancestral")


@dataclass(frozen=True)
class DiffCSettings:
    seed: int = 0
    num_steps: int = 20          # encoding steps t_0 -> t_1 -> ... -> t_num_steps
    t_max: int = 999
    t_min: int = 0
    rcc: RCCSettings = field(default_factory=RCCSettings)
    kl_levels: int = 16          # side-info quantisation: codes per octave of (1 + KL bits)
    decoder: str = "flow"        # flow: DDIM eta=0 (DiffC-F); ancestral: DDPM sampling (DiffC-A)
    decode_steps: int = 50       # denoising steps from t_k to 0

    def __post_init__(self) -> None:
        if self.decoder not in DECODERS:
            raise ConfigError(f"codec 'diffc': decoder={self.decoder!r} not in {DECODERS}")
        if self.seed < 0 or self.num_steps < 1 or self.decode_steps < 1 or self.kl_levels < 1:
            raise ConfigError("codec 'diffc': seed >= 0, num_steps >= 1, decode_steps >= 1, kl_levels >= 1 required")
        if not 0 <= self.t_min < self.t_max:
            raise ConfigError(f"codec 'diffc': need 0 <= t_min < t_max, got {self.t_min}, {self.t_max}")


@dataclass
class StepRecord:
    kl_code: int          # quantised KL (side information)
    indices: np.ndarray   # chosen candidate per chunk
    kl_bits: float        # exact KL, encoder-side diagnostics only


class DiffCEngine:
    """`rcc` draws and scores the candidates (numpy on the host unless the codec picks another backend)."""

    def __init__(self, denoiser: Denoiser, settings: DiffCSettings, rcc: RCCBackend | None = None) -> None:
        self.denoiser, self.settings = denoiser, settings
        self.rcc = rcc if rcc is not None else NumpyRCC()
        abar = denoiser.alphas_cumprod
        if settings.t_max >= len(abar):
            raise ConfigError(f"codec 'diffc': t_max={settings.t_max} but the schedule has {len(abar)} steps")
        self.timesteps = spaced(settings.t_max, settings.t_min, settings.num_steps + 1)
        if len(self.timesteps) != settings.num_steps + 1:
            raise ConfigError(f"codec 'diffc': {settings.num_steps} steps do not fit in "
                              f"t={settings.t_max}..{settings.t_min}")

    def plan(self, kl_code: int, dim: int) -> ChunkPlan:
        return ChunkPlan.for_code(kl_code, self.settings.kl_levels, dim, self.settings.rcc)

    def start(self, shape: tuple[int, ...], tile: int, start: np.ndarray | None = None) -> np.ndarray:
        """x_{t_0} from the shared seed: pure noise, or `start` noised to t_0 (what both sides start from)."""
        noise = prng.generator(prng.SHARED_NOISE, self.settings.seed, tile, 0).standard_normal(shape)
        if start is None:
            return noise
        abar = float(self.denoiser.alphas_cumprod[self.timesteps[0]])
        return np.sqrt(abar) * start + np.sqrt(1.0 - abar) * noise

    def _step(self, x: np.ndarray, i: int, cond: Condition | None,
              choose: Callable[[np.ndarray, np.ndarray, float], np.ndarray]) -> np.ndarray:
        t, s = self.timesteps[i], self.timesteps[i + 1]
        x0_hat = self.denoiser.predict_x0(x, t, cond)
        post = posterior(self.denoiser.alphas_cumprod, t, s)
        mu_p = post.c0 * x0_hat + post.c1 * x
        u = choose(x0_hat, mu_p, post.c0 / post.sigma)
        return mu_p + post.sigma * u.reshape(x.shape).astype(np.float64)

    def encode(self, x0: np.ndarray, tile: int, steps: int, on_step: Callable[[int, np.ndarray], None] | None = None,
               cond: Condition | None = None, start: np.ndarray | None = None) -> list[StepRecord]:
        """Run `steps` steps on the true latent x0; return the records the decoder needs."""
        records: list[StepRecord] = []
        x = self.start(x0.shape, tile, start)

        def choose(x0_hat: np.ndarray, mu_p: np.ndarray, scale: float) -> np.ndarray:
            m = (scale * (x0 - x0_hat)).ravel()
            kl_bits = float(m @ m) / (2 * math.log(2))
            try:
                code = quantise_kl(kl_bits, self.settings.kl_levels)
            except ValueError as exc:
                step = len(records)
                raise CodecError(f"codec 'diffc': step {step} (t={self.timesteps[step]}): {exc}") from exc
            indices, u = self.rcc.encode_sample(m, self.plan(code, m.size), (self.settings.seed, tile, len(records)))
            records.append(StepRecord(code, indices, kl_bits))
            return u

        for i in range(steps):
            x = self._step(x, i, cond, choose)
            if on_step is not None:
                on_step(i + 1, x)
        return records

    def replay(self, shape: tuple[int, ...], tile: int, records: TileSteps, cond: Condition | None = None,
               start: np.ndarray | None = None) -> np.ndarray:
        """Decoder: x_{t_k} from the side info and indices alone (and the same cond/start as the encoder)."""
        x = self.start(shape, tile, start)
        dim = int(np.prod(shape))
        for i, (code, idx) in enumerate(zip(records.kl_codes, records.indices)):
            u = partial(self.rcc.decode_sample, idx, self.plan(code, dim), (self.settings.seed, tile, i), dim)
            x = self._step(x, i, cond, lambda *_, u=u: u())
        return x

    def denoise(self, x: np.ndarray, steps_sent: int, tile: int, cond: Condition | None = None) -> np.ndarray:
        """From x_{t_k} to the latent x0: DDIM eta=0 (flow) or ancestral DDPM steps with shared-seed noise."""
        abar = self.denoiser.alphas_cumprod
        t_k = self.timesteps[steps_sent]
        times = spaced(t_k, 0, min(self.settings.decode_steps, t_k + 1))
        noise = prng.generator(prng.SHARED_NOISE, self.settings.seed, tile, 1)
        for t, s in zip(times, times[1:] + [-1]):
            x0_hat = self.denoiser.predict_x0(x, t, cond)
            if self.settings.decoder == "flow":
                x = ddim_step(abar, x, x0_hat, t, s)
            else:
                post = posterior(abar, t, s)
                x = post.c0 * x0_hat + post.c1 * x + post.sigma * noise.standard_normal(x.shape)
        return x
