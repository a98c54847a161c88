"""The shipped mini-ldm on Kodak: the autoencoder's ceiling and what the UNet's prior is worth.

1. Autoencoder round trip (DiffusersDenoiser.to_latent -> to_image, exactly DiffC's path, so this
   is the best any codec built on it can reach): PSNR and MS-SSIM (rdpbench.metrics.pixel) per image.
2. Denoising: x0 error of the UNet's prediction at several t on the Kodak latents, against the
   best estimate that knows only each latent channel's mean m and variance v over Kodak (the Wiener
   filter of an iid Gaussian prior, rdpbench.diffusion.mini_ldm.iid_gaussian_x0); a prior that has
   learned image structure beats it.
Prints a table and writes benchmarks/results/mini_ldm.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from rdpbench.data.images import load_image
from rdpbench.diffusion.mini_ldm import MiniLDMDenoiser, iid_gaussian_x0
from rdpbench.metrics.pixel import ms_ssim, psnr
from rdpbench.paths import datasets_dir

OUT = Path(__file__).resolve().parent / "results" / "mini_ldm.json"
TIMESTEPS = (100, 300, 500, 700, 900)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    denoiser = MiniLDMDenoiser(device="cpu")
    files = sorted((datasets_dir() / "kodak").glob("kodim*.png"))[:args.images]
    rows, latents = [], []
    for path in files:
        image = load_image(path)[0]
        start = time.perf_counter()
        latent = denoiser.to_latent(image)
        decoded = denoiser.to_image(latent)
        rows.append({"image": path.stem, "psnr": psnr(image, decoded), "ms_ssim": ms_ssim(image, decoded),
                     "seconds": time.perf_counter() - start})
        latents.append(latent)
        print(json.dumps(rows[-1]), flush=True)
    stacked = np.concatenate([z.reshape(z.shape[0], -1) for z in latents], axis=1)
    mean, variance = stacked.mean(axis=1), stacked.var(axis=1)
    abar = denoiser.alphas_cumprod
    rng = np.random.default_rng(0)
    denoising = []
    for t in TIMESTEPS:
        a = float(abar[t])
        model_err, wiener_err = [], []
        for z in latents[:8]:  # 8 images keep this part at a minute on a CPU
            x_t = np.sqrt(a) * z + np.sqrt(1 - a) * rng.standard_normal(z.shape)
            model_err.append(np.mean((denoiser.predict_x0(x_t, t) - z) ** 2))
            wiener_err.append(np.mean((iid_gaussian_x0(x_t, a, mean, variance) - z) ** 2))
        denoising.append({"t": t, "abar": a, "unet_x0_mse": float(np.mean(model_err)),
                          "iid_gaussian_x0_mse": float(np.mean(wiener_err))})
        print(json.dumps(denoising[-1]), flush=True)
    summary = {"images": len(rows), "psnr_mean": float(np.mean([r["psnr"] for r in rows])),
               "ms_ssim_mean": float(np.mean([r["ms_ssim"] for r in rows])),
               "psnr_min": float(np.min([r["psnr"] for r in rows])),
               "latent_mean": mean.tolist(), "latent_variance": variance.tolist()}
    print(json.dumps(summary))
    OUT.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "summary": summary,
                               "autoencoder": rows, "denoising": denoising,
                               "config": denoiser.config()}, indent=1) + "\n")


if __name__ == "__main__":
    main()
