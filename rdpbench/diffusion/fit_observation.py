"""Fit the conditional Gaussian oracle's observation model b = h x + e for one base codec.

`python -m rdpbench.diffusion.fit_observation --codec ultralow [--images 48] [--crop 256] [--out X.json]`

Method (recorded in the JSON): centre crops of `crop` px from `images` training photos spread
evenly over the sorted training folder (training images only, never an evaluation set); each
crop is encoded and *decoded from its bytes* by the base codec at every operating point of its
config; crop x and reconstruction b go into the Gaussian model's diagonal basis (colour PCA x
orthonormal rfft2, centred on the model mean); per channel and radial frequency bin (DC on its
own, then geometric bins), least squares without intercept gives h = sum Re(B conj X) / sum |X|^2
and S = mean |B - h X|^2 over the bin's coefficients.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

from rdpbench.codecs.base import Codec, op_label
from rdpbench.diffusion.conditional_gaussian import OBSERVATIONS, ObservationFit, ObservationModel
from rdpbench.diffusion.gaussian import GaussianDenoiser
from rdpbench.paths import REPO_ROOT, data_label, training_photos

SUFFIXES = (".png", ".jpg", ".jpeg")


def training_crops(directory: Path, images: int, crop: int) -> list[np.ndarray]:
    paths = sorted(p for p in directory.rglob("*") if p.suffix.lower() in SUFFIXES)
    crops = []
    for path in paths[::max(1, len(paths) // images)]:
        image = np.asarray(Image.open(path).convert("RGB"))
        h, w = image.shape[:2]
        if min(h, w) >= crop:
            top, left = (h - crop) // 2, (w - crop) // 2
            crops.append(np.ascontiguousarray(image[top:top + crop, left:left + crop]))
        if len(crops) == images:
            break
    return crops


def frequency_bins(size: int, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin index of every rfft2 coefficient of a size x size crop (0 = DC), and each non-empty bin's mean |f|."""
    f = np.sqrt(np.fft.fftfreq(size)[:, None] ** 2 + np.fft.rfftfreq(size)[None, :] ** 2)
    edges = np.geomspace(1.0 / size, f.max() + 1e-9, bins + 1)
    which = np.where(f == 0, 0, np.clip(np.digitize(f, edges), 1, bins))
    used, which = np.unique(which, return_inverse=True)  # the lowest geometric bins may hold no coefficient
    which = which.reshape(f.shape)
    return which, np.array([f[which == b].mean() for b in range(len(used))])


def fit_op(codec: Codec, op: dict, crops: list[np.ndarray], denoiser: GaussianDenoiser, bins: int) -> ObservationFit:
    model = denoiser.model
    which, centres = frequency_bins(crops[0].shape[0], bins)
    n = len(centres)
    cross, power_x, power_b = np.zeros((3, n)), np.zeros((3, n)), np.zeros((3, n))
    count = np.bincount(which.ravel(), minlength=n) * len(crops)
    for crop in crops:
        recon = codec.decode(codec.encode(crop, op))
        x = model.components(denoiser.to_latent(crop))
        b = model.components(denoiser.to_latent(recon))
        for k in range(3):
            cross[k] += np.bincount(which.ravel(), (b[k] * np.conj(x[k])).real.ravel(), minlength=n)
            power_x[k] += np.bincount(which.ravel(), (np.abs(x[k]) ** 2).ravel(), minlength=n)
            power_b[k] += np.bincount(which.ravel(), (np.abs(b[k]) ** 2).ravel(), minlength=n)
    gain = cross / power_x
    error = (power_b - 2 * gain * cross + gain ** 2 * power_x) / count
    return ObservationFit(tuple(map(float, centres)), tuple(tuple(map(float, r)) for r in gain),
                          tuple(tuple(map(float, r)) for r in error), len(crops))


def base_codec(name: str, overrides: list[str]) -> Codec:
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base=None):
        cfg = compose(config_name="config", overrides=[f"codec={name}", "device=cpu", *overrides])
    return instantiate(cfg.codec, _convert_="all")


def fit(name: str, overrides: list[str], directory: Path, images: int, crop: int, bins: int) -> ObservationModel:
    codec = base_codec(name, overrides)
    denoiser = GaussianDenoiser()
    crops = training_crops(directory, images, crop)
    config_sha = hashlib.sha256(json.dumps(codec.config(), sort_keys=True, default=str).encode()).hexdigest()
    fits = {op_label(op): fit_op(codec, op, crops, denoiser, bins) for op in codec.operating_points()}
    method = __doc__.split("Method (recorded in the JSON): ")[1].strip().replace("\n", " ")
    return ObservationModel(codec.name, config_sha, fits,
                            fitted_on=f"{data_label(directory)} ({len(crops)} centre crops {crop}x{crop})",
                            notes={"method": method, "bins": bins, "overrides": overrides})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codec", default="ultralow", help="base codec config name (conf/codec/<name>.yaml)")
    parser.add_argument("--override", action="append", default=[], help="Hydra override for the codec, repeatable")
    parser.add_argument("--train", type=Path, default=None, help="training photos (default ../shared/datasets/train)")
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--bins", type=int, default=24)
    parser.add_argument("--out", type=Path, default=None, help="default rdpbench/diffusion/observations/<codec>.json")
    args = parser.parse_args(argv)
    model = fit(args.codec, args.override, args.train or training_photos(), args.images, args.crop, args.bins)
    out = args.out or OBSERVATIONS / f"{args.codec}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    for key, f in model.fits.items():
        low, mid = f.gain[0][1], f.gain[0][len(f.frequency) // 2]
        print(f"{key}: luma h at {f.frequency[1]:.4f} c/px = {low:.2f}, at {f.frequency[len(f.frequency) // 2]:.3f} "
              f"c/px = {mid:.2f}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
