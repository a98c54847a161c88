"""Stable Diffusion (1.5, 2.1, any UNet2DConditionModel + AutoencoderKL snapshot) as a DiffC denoiser.

Loaded part by part with diffusers' `from_pretrained` (unet/, vae/, scheduler/,
text_encoder/, tokenizer/ of a hub id or of a local snapshot directory), so any
model laid out like the hub works without a pipeline object. Weights are looked
up in rdpbench's cache (weights.configure_library_caches) and, when offline, only
locally (`local_files_only`); a missing model becomes a WeightsError that says how
to provide it. Loading is lazy: building the codec from a config needs no weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rdpbench.diffusion.base import Denoiser
from rdpbench.errors import ConfigError, WeightsError
from rdpbench.weights import configure_library_caches, offline

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


class DiffusersDenoiser(Denoiser):
    """eps / v / x0 predictions of a latent diffusion UNet, all converted to an x0 estimate."""

    def __init__(self, model: str = "runwayml/stable-diffusion-v1-5", prompt: str = "", guidance_scale: float = 1.0,
                 device: str = "auto", dtype: str = "auto", revision: str | None = None) -> None:
        self.model, self.prompt, self.guidance_scale = str(model), str(prompt), float(guidance_scale)
        self.device_name, self.dtype_name, self.revision = str(device), str(dtype), revision
        self._parts: dict[str, Any] | None = None

    # --- loading ---------------------------------------------------------------------
    def _from_pretrained(self, cls: Any, subfolder: str, **kwargs: Any) -> Any:
        local = Path(self.model).expanduser()
        source = str(local) if local.is_dir() else self.model
        try:
            return cls.from_pretrained(source, subfolder=subfolder, revision=self.revision,
                                       local_files_only=offline() or local.is_dir(), **kwargs)
        except (OSError, ValueError) as exc:
            hint = ("RDPBENCH_OFFLINE/HF_HUB_OFFLINE is set, so nothing was downloaded. " if offline() else "")
            raise WeightsError(
                f"diffc denoiser: cannot load {subfolder}/ of {self.model!r} ({type(exc).__name__}: {exc}). {hint}"
                f"Fetch it with `huggingface-cli download {self.model}` (lands in the rdpbench cache HF_HOME), "
                f"or set codec.denoiser.model=/path/to/snapshot holding unet/ vae/ scheduler/ text_encoder/ "
                f"tokenizer/.") from exc

    def _load(self) -> dict[str, Any]:
        if self._parts is not None:
            return self._parts
        configure_library_caches()
        import torch
        from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
        from transformers import CLIPTextModel, CLIPTokenizer

        from rdpbench.device import resolve_device, resolve_dtype

        device = resolve_device(self.device_name)
        dtype = resolve_dtype(self.dtype_name, device)
        scheduler = self._from_pretrained(DDPMScheduler, "scheduler")
        if scheduler.config.prediction_type not in PREDICTION_TYPES:
            raise ConfigError(f"diffc denoiser {self.model!r}: prediction_type {scheduler.config.prediction_type!r} "
                              f"not in {PREDICTION_TYPES}")
        unet = self._from_pretrained(UNet2DConditionModel, "unet", torch_dtype=dtype).to(device).eval()
        vae = self._from_pretrained(AutoencoderKL, "vae", torch_dtype=dtype).to(device).eval()
        tokenizer = self._from_pretrained(CLIPTokenizer, "tokenizer")
        text_encoder = self._from_pretrained(CLIPTextModel, "text_encoder", torch_dtype=dtype).to(device).eval()
        with torch.no_grad():
            prompts = [self.prompt] if self.guidance_scale == 1.0 else ["", self.prompt]
            tokens = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length,
                               truncation=True, return_tensors="pt").input_ids.to(device)
            embeddings = text_encoder(tokens)[0]
        self._parts = {"torch": torch, "device": device, "dtype": dtype, "unet": unet, "vae": vae,
                       "embeddings": embeddings, "prediction_type": scheduler.config.prediction_type,
                       "abar": scheduler.alphas_cumprod.double().numpy(),
                       "scaling": float(vae.config.scaling_factor),
                       "downsample": 2 ** (len(vae.config.block_out_channels) - 1),
                       "latent_channels": int(vae.config.latent_channels)}
        return self._parts

    def requirements(self) -> str:
        self._load()
        return ""

    # --- Denoiser ----------------------------------------------------------------------
    @property
    def downsample(self) -> int:  # type: ignore[override]
        return self._load()["downsample"]

    @property
    def latent_channels(self) -> int:  # type: ignore[override]
        return self._load()["latent_channels"]

    @property
    def alphas_cumprod(self) -> np.ndarray:
        return self._load()["abar"]

    def _tensor(self, array: np.ndarray) -> Any:
        p = self._load()
        return p["torch"].from_numpy(np.ascontiguousarray(array)).to(p["device"], p["dtype"])[None]

    def to_latent(self, image: np.ndarray) -> np.ndarray:
        """VAE posterior *mean* times the scaling factor: deterministic (DiffC's code samples it unseeded)."""
        p = self._load()
        with p["torch"].no_grad():
            pixels = self._tensor(np.moveaxis(image.astype(np.float32), -1, 0) / 127.5 - 1.0)
            mean = p["vae"].encode(pixels).latent_dist.mean
        return (mean[0].double().cpu().numpy()) * p["scaling"]

    def to_image(self, latent: np.ndarray) -> np.ndarray:
        p = self._load()
        with p["torch"].no_grad():
            pixels = p["vae"].decode(self._tensor(latent / p["scaling"])).sample[0].double().cpu().numpy()
        return np.clip(np.rint((np.moveaxis(pixels, 0, -1) + 1.0) * 127.5), 0, 255).astype(np.uint8)

    def predict_x0(self, x_t: np.ndarray, t: int) -> np.ndarray:
        p = self._load()
        torch = p["torch"]
        embeddings = p["embeddings"]
        with torch.no_grad():
            sample = self._tensor(x_t).expand(embeddings.shape[0], *x_t.shape)
            out = p["unet"](sample, torch.tensor(t, device=p["device"]), encoder_hidden_states=embeddings).sample
            out = out.double().cpu().numpy()
        if len(out) == 2:  # classifier-free guidance: [unconditional, prompt]
            out = out[:1] + self.guidance_scale * (out[1:] - out[:1])
        out = out[0]
        abar = float(p["abar"][t])
        if p["prediction_type"] == "epsilon":
            return (x_t - np.sqrt(1.0 - abar) * out) / np.sqrt(abar)
        if p["prediction_type"] == "v_prediction":
            return np.sqrt(abar) * x_t - np.sqrt(1.0 - abar) * out
        return out

    def config(self) -> dict[str, Any]:
        return {"backend": "diffusers", "model": self.model, "revision": self.revision, "prompt": self.prompt,
                "guidance_scale": self.guidance_scale, "device": self.device_name, "dtype": self.dtype_name}
