"""Latent diffusion snapshots (SD 1.5, SD 2.1, mini-ldm, any diffusers layout) as DiffC denoisers.

Components are loaded part by part with diffusers' `from_pretrained` (unet/, vae/, scheduler/,
and text_encoder/ + tokenizer/ when the UNet takes text) from a hub id or a local snapshot
directory, so any model laid out like the hub works without a pipeline object. The UNet class
comes from its own config (`UNet2DConditionModel` for text-conditioned models, `UNet2DModel` for
unconditional ones, which then need no text parts). Loaded components are typed
(`DiffusionComponents`) and cached per process by (model, revision, device, dtype), so a suite
of codecs on one model loads it once; an optional `diffusers.ControlNetModel` is cached the same way.

Conditioning: per-image text (`cond.prompt`, e.g. transmitted tags; else the constructor's
prompt) is embedded by the snapshot's own text encoder, and a ControlNet, when configured, is
fed the decoded base reconstruction of the tile (`cond.base_image`, in [0, 1] as diffusers'
ControlNet pipelines feed hints).

Weights are looked up in rdpbench's cache (weights.configure_library_caches) and, when offline,
only locally (`local_files_only`); a missing model becomes a WeightsError that says how to
provide it. Loading is lazy: building the codec from a config needs no weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rdpbench.diffusion.base import Denoiser
from rdpbench.diffusion.conditioning import Condition
from rdpbench.errors import ConfigError, WeightsError
from rdpbench.weights import configure_library_caches, offline

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
#: the UNet classes a snapshot may declare in unet/config.json (text-conditioned, unconditional)
UNET_CLASSES = ("UNet2DConditionModel", "UNet2DModel")
_EMBEDDING_CACHE = 64  # distinct prompts kept per model (tags differ per image)


def from_pretrained(cls: Any, model: str, subfolder: str | None, revision: str | None, who: str,
                    method: str = "from_pretrained", **kwargs: Any) -> Any:
    """`cls.from_pretrained` (or `cls.load_config`) of a hub id or a local directory, with rdpbench's
    offline rule and error."""
    local = Path(model).expanduser()
    source = str(local) if local.is_dir() else model
    try:
        return getattr(cls, method)(source, subfolder=subfolder, revision=revision,
                                    local_files_only=offline() or local.is_dir(), **kwargs)
    except (OSError, ValueError) as exc:
        hint = "RDPBENCH_OFFLINE/HF_HUB_OFFLINE is set, so nothing was downloaded. " if offline() else ""
        part = f"{subfolder}/ of " if subfolder else ""
        raise WeightsError(
            f"{who}: cannot load {part}{model!r} ({type(exc).__name__}: {exc}). {hint}"
            f"Fetch it with `hf download {model}` (lands in the rdpbench cache HF_HOME), or point the config at "
            f"a local snapshot directory (unet/ vae/ scheduler/, plus text_encoder/ tokenizer/ for a "
            f"text-conditioned UNet).") from exc


@dataclass
class DiffusionComponents:
    """One snapshot's parts on one device and dtype; text parts are None for an unconditional UNet."""

    unet: Any
    vae: Any
    scheduler: Any
    tokenizer: Any | None
    text_encoder: Any | None
    device: Any
    dtype: Any
    _embeddings: dict[tuple[str, ...], Any] = field(default_factory=dict, repr=False)

    @property
    def takes_text(self) -> bool:
        return self.text_encoder is not None

    @property
    def prediction_type(self) -> str:
        return str(self.scheduler.config.prediction_type)

    @property
    def alphas_cumprod(self) -> np.ndarray:
        return self.scheduler.alphas_cumprod.double().numpy()

    @property
    def scaling(self) -> float:
        return float(self.vae.config.scaling_factor)

    @property
    def downsample(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    def embed(self, prompts: tuple[str, ...]) -> Any:
        """Text-encoder states of `prompts` (cached: a codec asks for the same prompt at every step)."""
        if prompts not in self._embeddings:
            import torch

            if len(self._embeddings) >= _EMBEDDING_CACHE:
                self._embeddings.pop(next(iter(self._embeddings)))
            with torch.no_grad():
                tokens = self.tokenizer(list(prompts), padding="max_length", max_length=self.tokenizer.model_max_length,
                                        truncation=True, return_tensors="pt").input_ids.to(self.device)
                self._embeddings[prompts] = self.text_encoder(tokens)[0]
        return self._embeddings[prompts]


_COMPONENTS: dict[tuple, DiffusionComponents] = {}
_CONTROLNETS: dict[tuple, Any] = {}


def load_components(model: str, revision: str | None, device: Any, dtype: Any) -> DiffusionComponents:
    """The snapshot's components, loaded once per process per (model, revision, device, dtype)."""
    key = (model, revision, str(device), str(dtype))
    if key in _COMPONENTS:
        return _COMPONENTS[key]
    configure_library_caches()
    import diffusers
    from diffusers import AutoencoderKL, DDPMScheduler

    who = "diffusion denoiser"
    scheduler = from_pretrained(DDPMScheduler, model, "scheduler", revision, who)
    if scheduler.config.prediction_type not in PREDICTION_TYPES:
        raise ConfigError(f"{who} {model!r}: prediction_type {scheduler.config.prediction_type!r} "
                          f"not in {PREDICTION_TYPES}")
    unet_class = _unet_class(model, revision, who)
    unet = from_pretrained(unet_class, model, "unet", revision, who, torch_dtype=dtype).to(device).eval()
    vae = from_pretrained(AutoencoderKL, model, "vae", revision, who, torch_dtype=dtype).to(device).eval()
    tokenizer = text_encoder = None
    if unet_class is diffusers.UNet2DConditionModel:
        from transformers import CLIPTextModel, CLIPTokenizer

        tokenizer = from_pretrained(CLIPTokenizer, model, "tokenizer", revision, who)
        text_encoder = from_pretrained(CLIPTextModel, model, "text_encoder", revision, who,
                                       torch_dtype=dtype).to(device).eval()
    _COMPONENTS[key] = DiffusionComponents(unet, vae, scheduler, tokenizer, text_encoder, device, dtype)
    return _COMPONENTS[key]


def _unet_class(model: str, revision: str | None, who: str) -> Any:
    """The UNet class that unet/config.json declares (one of UNET_CLASSES)."""
    import diffusers

    config = from_pretrained(diffusers.UNet2DModel, model, "unet", revision, who, method="load_config")
    name = config.get("_class_name")
    if name not in UNET_CLASSES:
        raise ConfigError(f"{who} {model!r}: unet/config.json declares {name!r}; supported: {UNET_CLASSES}")
    return getattr(diffusers, name)


def load_controlnet(model: str, revision: str | None, device: Any, dtype: Any) -> Any:
    key = (model, revision, str(device), str(dtype))
    if key not in _CONTROLNETS:
        configure_library_caches()
        from diffusers import ControlNetModel

        _CONTROLNETS[key] = from_pretrained(ControlNetModel, model, None, revision, "diffusion denoiser controlnet",
                                            torch_dtype=dtype).to(device).eval()
    return _CONTROLNETS[key]


class DiffusersDenoiser(Denoiser):
    """eps / v / x0 predictions of a latent diffusion UNet, all converted to an x0 estimate."""

    def __init__(self, model: str = "stable-diffusion-v1-5/stable-diffusion-v1-5", prompt: str = "",
                 guidance_scale: float = 1.0, device: str = "cpu", dtype: str = "auto", revision: str | None = None,
                 controlnet: str | None = None, controlnet_scale: float = 1.0) -> None:
        from rdpbench.device import resolve_dtype, torch_device

        self.model, self.prompt, self.guidance_scale = str(model), str(prompt), float(guidance_scale)
        self.device = torch_device(device, f"diffusion denoiser {self.model!r}")
        self.dtype = resolve_dtype(str(dtype), self.device)
        self.revision = revision
        self.controlnet_id, self.controlnet_scale = (str(controlnet) if controlnet else None), float(controlnet_scale)
        self._parts: DiffusionComponents | None = None
        self._controlnet: Any = None

    # --- loading ---------------------------------------------------------------------
    @property
    def parts(self) -> DiffusionComponents:
        if self._parts is None:
            self._parts = load_components(self.model, self.revision, self.device, self.dtype)
            if self.controlnet_id:
                if not self._parts.takes_text:
                    raise ConfigError(f"diffusion denoiser {self.model!r}: a ControlNet needs a text-conditioned "
                                      f"UNet2DConditionModel; this snapshot's UNet is unconditional")
                self._controlnet = load_controlnet(self.controlnet_id, None, self.device, self.dtype)
        return self._parts

    def requirements(self) -> str:
        _ = self.parts
        return ""

    def compute(self) -> tuple[str, str]:
        return self.device.type, str(self.dtype).removeprefix("torch.")

    # --- Denoiser ----------------------------------------------------------------------
    @property
    def downsample(self) -> int:  # type: ignore[override]
        return self.parts.downsample

    @property
    def latent_channels(self) -> int:  # type: ignore[override]
        return self.parts.latent_channels

    @property
    def alphas_cumprod(self) -> np.ndarray:
        return self.parts.alphas_cumprod

    def _tensor(self, array: np.ndarray) -> Any:
        import torch

        p = self.parts
        return torch.from_numpy(np.ascontiguousarray(array)).to(p.device, p.dtype)[None]

    def to_latent(self, image: np.ndarray) -> np.ndarray:
        """VAE posterior *mean* times the scaling factor: deterministic (DiffC's code samples it unseeded)."""
        import torch

        p = self.parts
        with torch.no_grad():
            pixels = self._tensor(np.moveaxis(image.astype(np.float32), -1, 0) / 127.5 - 1.0)
            mean = p.vae.encode(pixels).latent_dist.mean
        return mean[0].double().cpu().numpy() * p.scaling

    def to_image(self, latent: np.ndarray) -> np.ndarray:
        import torch

        p = self.parts
        with torch.no_grad():
            pixels = p.vae.decode(self._tensor(latent / p.scaling)).sample[0].double().cpu().numpy()
        return np.clip(np.rint((np.moveaxis(pixels, 0, -1) + 1.0) * 127.5), 0, 255).astype(np.uint8)

    def _unet_kwargs(self, cond: Condition | None, batch: int, sample: Any, timestep: Any) -> dict[str, Any]:
        """Text states and ControlNet residuals for one call (nothing for an unconditional UNet)."""
        p = self.parts
        if not p.takes_text:
            return {}
        prompt = cond.prompt if cond is not None and cond.prompt is not None else self.prompt
        embeddings = p.embed((prompt,) if batch == 1 else ("", prompt))
        kwargs: dict[str, Any] = {"encoder_hidden_states": embeddings}
        if self._controlnet is not None:
            if cond is None or cond.base_image is None:
                raise ConfigError(f"diffusion denoiser {self.model!r}: ControlNet {self.controlnet_id!r} needs a "
                                  f"base reconstruction to condition on; this codec sends none")
            hint = self._tensor(np.moveaxis(cond.base_image.astype(np.float32), -1, 0) / 255.0)
            down, mid = self._controlnet(sample, timestep, encoder_hidden_states=embeddings,
                                         controlnet_cond=hint.expand(batch, *hint.shape[1:]),
                                         conditioning_scale=self.controlnet_scale, return_dict=False)
            kwargs.update(down_block_additional_residuals=down, mid_block_additional_residual=mid)
        return kwargs

    def predict_x0(self, x_t: np.ndarray, t: int, cond: Condition | None = None) -> np.ndarray:
        import torch

        p = self.parts
        batch = 2 if p.takes_text and self.guidance_scale != 1.0 else 1
        with torch.no_grad():
            sample = self._tensor(x_t).expand(batch, *x_t.shape)
            timestep = torch.tensor(t, device=p.device)
            out = p.unet(sample, timestep, **self._unet_kwargs(cond, batch, sample, timestep)).sample
            out = out.double().cpu().numpy()
        if batch == 2:  # classifier-free guidance: [unconditional, prompt]
            out = out[:1] + self.guidance_scale * (out[1:] - out[:1])
        out = out[0]
        abar = float(p.alphas_cumprod[t])
        if p.prediction_type == "epsilon":
            return (x_t - np.sqrt(1.0 - abar) * out) / np.sqrt(abar)
        if p.prediction_type == "v_prediction":
            return np.sqrt(abar) * x_t - np.sqrt(1.0 - abar) * out
        return out

    def config(self) -> dict[str, Any]:
        return {"backend": "diffusers", "model": self.model, "revision": self.revision, "prompt": self.prompt,
                "guidance_scale": self.guidance_scale, "device": self.device.type, "dtype": self.compute()[1],
                "controlnet": self.controlnet_id, "controlnet_scale": self.controlnet_scale}
