"""A small synthetic results store in the documented layout, shared by the report tests.

Rates and metrics follow simple formulas so tests can check aggregation and BD values; the
`diffc` curve is deliberately non-monotone and `single` has one operating point.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from rdpbench.metrics import metric_info
from rdpbench.results.store import ResultStore

SIZE = 64
IMAGES = ("img0", "img1")
CODECS = {  # label -> (config hash, list of (op_label, bpp, psnr, lpips))
    "jpeg": ("a" * 64, [("q=1", 0.02, 21.0, 0.60), ("q=5", 0.04, 23.0, 0.50), ("q=10", 0.08, 25.0, 0.40),
                        ("q=20", 0.16, 27.0, 0.30)]),
    "webp": ("b" * 64, [("q=0", 0.016, 21.0, 0.55), ("q=5", 0.032, 23.0, 0.45), ("q=20", 0.064, 25.0, 0.35),
                        ("q=40", 0.128, 27.0, 0.25)]),
    "diffc": ("c" * 64, [("step=1", 0.01, 21.5, 0.5), ("step=2", 0.02, 21.0, 0.45), ("step=3", 0.03, 24.0, 0.35),
                         ("step=4", 0.05, 23.5, 0.3), ("step=5", 0.07, 26.0, 0.2)]),
    "single": ("d" * 64, [("q=5", 0.05, 24.0, 0.4)]),
}


def original(image: str) -> np.ndarray:
    rng = np.random.default_rng(IMAGES.index(image))
    return rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def write_store(root: Path, dataset: str = "kodak", codecs: dict | None = None, lpips: bool = False,
                recon: bool = True) -> Path:
    """Rows (+ recon PNGs) for every codec x image; image img1 is 10 % above img0 in rate. Rows record
    their originals as <data root>/<dataset>/<image>.png (see `write_originals`), of a 24-image dataset."""
    store = ResultStore(root)
    for name in ("psnr", "lpips"):
        store.write_metric_info(metric_info(name))
    for codec, (config_hash, ops) in (codecs or CODECS).items():
        key = store.codec_key(codec, config_hash)
        for index, image in enumerate(IMAGES):
            rows = []
            for op_label, bpp, psnr, lpips_value in ops:
                recon_path = ""
                if recon:
                    noisy = original(image).astype(int) + int(30 - psnr)
                    relative = store.artifact_path("recon", dataset, key, image, op_label, ".png")
                    store.write_artifact(relative, _png(np.clip(noisy, 0, 255).astype(np.uint8)))
                    recon_path = str(relative)
                scale = 1.0 + 0.1 * index
                impl = {"psnr": "PSNR (test)", "lpips": "LPIPS (test)"}
                rows.append({"dataset": dataset, "image": image, "dataset_id": dataset, "dataset_size": 24,
                             "image_root": "data_root", "image_path": f"{dataset}/{image}.png",
                             "image_sha256": hashlib.sha256(_png(original(image))).hexdigest(), "width": SIZE,
                             "height": SIZE, "codec": codec,
                             "codec_name": codec, "op_label": op_label, "bytes": round(bpp * scale * SIZE ** 2 / 8),
                             "bpp": bpp * scale, "psnr": psnr + (0.5 if index else -0.5),
                             "lpips": lpips_value if lpips else None, "metric_impl": json.dumps(impl),
                             "metric_errors": json.dumps({} if lpips else {"lpips": "weights missing (test)"}),
                             "recon_path": recon_path, "config_hash": config_hash,
                             "codec_config": json.dumps({"name": codec}), "git_commit": "test"})
            store.write_rows(dataset, key, image, rows)
    return root


def write_originals(folder: Path, dataset: str | None = None) -> Path:
    """The originals as <folder>/<image>.png, or <folder>/<dataset>/<image>.png (a data root)."""
    target = folder / dataset if dataset else folder
    target.mkdir(parents=True, exist_ok=True)
    for image in IMAGES:
        (target / f"{image}.png").write_bytes(_png(original(image)))
    return folder
