"""Fit the Gaussian image model's parameters: `python -m rdpbench.diffusion.fit_gaussian [dir] [out.json]`.

Method (recorded in the JSON): centre crops of `crop` px from every image under the
training directory (training images only, never an evaluation set), scaled to
[-1, 1]; mean colour and the PCA colour basis from all pixels; per decorrelated
channel the average periodogram |rfft2(ortho)|^2; then log P(f) = log A - alpha/2
log(f0^2 + f^2) by least squares over radial frequency bins (DC excluded: the mean
carries it). scipy does the fit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.optimize import least_squares

from rdpbench.diffusion.gaussian import DEFAULT_PARAMS, GaussianImageModel
from rdpbench.paths import data_label, training_photos

TRAIN_SUBDIR = Path("BSDS500") / "train"  # under the training photos (../shared/datasets/train)


def _crops(paths: list[Path], crop: int) -> np.ndarray:
    out = []
    for path in paths:
        img = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 127.5 - 1.0
        h, w = img.shape[:2]
        if min(h, w) < crop:
            continue
        top, left = (h - crop) // 2, (w - crop) // 2
        out.append(np.moveaxis(img[top:top + crop, left:left + crop], -1, 0))
    return np.stack(out)


def fit(directory: Path | None = None, crop: int = 256, bins: int = 40) -> GaussianImageModel:
    directory = directory or training_photos() / TRAIN_SUBDIR
    paths = sorted(p for p in directory.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    images = _crops(paths, crop)
    mean = images.mean(axis=(0, 2, 3))
    centred = images - mean[None, :, None, None]
    eigval, eigvec = np.linalg.eigh(np.cov(centred.transpose(1, 0, 2, 3).reshape(3, -1)))
    basis = eigvec[:, ::-1].T  # rows, by decreasing variance
    basis *= np.sign(basis.sum(axis=1, keepdims=True))  # deterministic sign: luminance-like row positive
    y = np.einsum("kc,nchw->nkhw", basis, centred)
    periodogram = (np.abs(np.fft.rfft2(y, norm="ortho")) ** 2).mean(axis=0)
    f = np.sqrt(np.fft.fftfreq(crop)[:, None] ** 2 + np.fft.rfftfreq(crop)[None, :] ** 2)
    edges = np.geomspace(1.0 / crop, f.max() + 1e-9, bins + 1)
    which = np.digitize(f, edges) - 1
    params = []
    for k in range(3):
        centres, logp = [], []
        for b in range(bins):
            sel = (which == b) & (f > 0)
            if sel.any():
                centres.append(f[sel].mean())
                logp.append(np.log(periodogram[k][sel].mean()))
        centres, logp = np.array(centres), np.array(logp)

        def residual(theta: np.ndarray, centres: np.ndarray = centres, logp: np.ndarray = logp) -> np.ndarray:
            log_a, log_f0, alpha = theta
            return log_a - alpha / 2 * np.log(np.exp(2 * log_f0) + centres ** 2) - logp

        sol = least_squares(residual, x0=np.array([-6.0, np.log(1.0 / crop), 2.0]))
        params.append((float(np.exp(sol.x[0])), float(np.exp(sol.x[1])), float(sol.x[2])))
    return GaussianImageModel(
        mean=tuple(float(v) for v in mean), colour_basis=tuple(tuple(float(v) for v in row) for row in basis),
        amplitude=tuple(p[0] for p in params), f0=tuple(p[1] for p in params), alpha=tuple(p[2] for p in params),
        fitted_on=f"{data_label(directory)} ({len(images)} centre crops {crop}x{crop})",
        notes={"method": __doc__.split("Method (recorded in the JSON): ")[1].split("\n\n")[0].replace("\n", " "),
               "pixel_variance_per_channel": [float(v) for v in eigval[::-1]]})


def main(argv: list[str]) -> None:
    directory = Path(argv[0]) if argv else None
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_PARAMS
    model = fit(directory)
    model.save(out)
    print(f"wrote {out}: alpha={model.alpha} f0={model.f0} A={model.amplitude}")


if __name__ == "__main__":
    main(sys.argv[1:])
