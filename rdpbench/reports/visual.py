"""Visual comparison grids: the same crop of one image from every codec, at the op nearest a target bpp."""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rdpbench.data import Folder, load_image  # noqa: E402
from rdpbench.errors import RdpbenchError  # noqa: E402
from rdpbench.reports.curves import add_curve_labels  # noqa: E402
from rdpbench.reports.names import display_name  # noqa: E402
from rdpbench.weights import sha256_of  # noqa: E402

DEFAULT_CROP = 256


def _candidates(row: pd.Series, originals_dir: Path | None, data_root: Path | None) -> list[Path]:
    relative = Path(str(row["image_path"]))
    found = [originals_dir / relative, originals_dir / relative.name] if originals_dir is not None else []
    root = str(row["image_root"])
    if root == "data_root":  # the report's data root first, then the one the run used
        roots = [data_root] if data_root is not None else []
        roots += [Path(str(row["data_root"]))] if isinstance(row.get("data_root"), str) else []
        found += [r / relative for r in roots]
    elif root == "package":
        found.append(Path(str(resources.files("rdpbench.data"))) / relative)
    else:
        found.append(Path(root) / relative)
    return found


def original_for(rows: pd.DataFrame, dataset: str, image: str, originals_dir: str | Path | None = None,
                 data_root: str | Path | None = None) -> tuple[Path | None, str]:
    """The original file an image's rows were measured on, and a note when there is none.

    The store keeps no originals, but every row records its image's path relative to the data root
    (or the package, or its folder) and SHA-256: the file is looked up under `originals_dir` (as
    recorded, or by file name), `data_root` or the run's data root, the package, or the recorded folder,
    and used only when its SHA-256 matches, so a report finds the original wherever the data root now
    is and never shows another image as the original.
    """
    originals_dir = Path(originals_dir).expanduser() if originals_dir is not None else None
    data_root = Path(data_root).expanduser() if data_root is not None else None
    mine = rows[(rows["dataset"] == dataset) & (rows["image"] == image)]
    if mine.empty:
        return None, f"{dataset}/{image}: no rows"
    row = mine.iloc[0]
    if not isinstance(row.get("image_sha256"), str):  # rows written before originals were recorded
        if originals_dir is not None:
            match = {ref.name: ref.path for ref in Folder(str(originals_dir), name=dataset).images()}.get(image)
            if match is not None:
                return match, f"{dataset}/{image}: original taken from {originals_dir} by name (no checksum recorded)"
        return None, f"{dataset}/{image}: rows record no original (written by an older rdpbench); pass --originals DIR"
    tried = []
    for path in _candidates(row, originals_dir, data_root):
        if path.is_file():
            if sha256_of(path) == row["image_sha256"]:
                return path, ""
            tried.append(f"{path} (different content)")
        else:
            tried.append(str(path))
    where = ", ".join(tried) or "nowhere (no --originals or --data-root given)"
    return None, (f"{dataset}/{image}: original {row['image_path']} (SHA-256 {row['image_sha256'][:12]}...) not found: "
                  f"looked at {where}; pass --data-root or --originals DIR")


def nearest_points(rows: pd.DataFrame, dataset: str, image: str, target_bpp: float) -> pd.DataFrame:
    """Per curve, the rows of `image` with a stored reconstruction whose bpp is nearest `target_bpp`
    (nearest in log-rate, since ultra-low rates span decades): every op at that rate, so decoder-side
    knobs that leave the bytes alone (dual's dp, sprdiff's diffusion steps) are compared side by side."""
    if not target_bpp > 0:
        raise RdpbenchError(f"target bpp must be positive, got {target_bpp}")
    if "recon_path" not in rows:
        return rows.iloc[:0]
    selected = add_curve_labels(rows[rows["dataset"] == dataset])
    selected = selected[(selected["image"] == image) & selected["recon_path"].fillna("").astype(bool)]
    if selected.empty:
        return selected
    distance = (np.log(selected["bpp"].clip(lower=1e-9)) - math.log(target_bpp)).abs()
    selected = selected.assign(distance=distance)
    best = selected[selected["distance"] <= selected.groupby("curve")["distance"].transform("min") + 1e-12]
    return best.sort_values(["bpp", "curve", "op_label"]).reset_index(drop=True)


def crop_window(shape: tuple[int, ...], crop: tuple[int, int, int] | None) -> tuple[slice, slice]:
    """(rows, cols) slices: `crop` = (x, y, size) or None for a centred square of DEFAULT_CROP px."""
    height, width = shape[:2]
    if crop is None:
        size = min(DEFAULT_CROP, height, width)
        x, y = (width - size) // 2, (height - size) // 2
    else:
        x, y, size = crop
        if x < 0 or y < 0 or x + size > width or y + size > height:
            raise RdpbenchError(f"crop x={x} y={y} size={size} does not fit in a {width}x{height} image")
    return slice(y, y + size), slice(x, x + size)


def visual_grid(rows: pd.DataFrame, results_dir: Path, dataset: str, image: str, target_bpp: float,
                original: Path | None = None, crop: tuple[int, int, int] | None = None
                ) -> tuple[plt.Figure | None, list[str]]:
    """Figure with the original crop (when available) and one crop per codec; returns (figure, notes)."""
    points = nearest_points(rows, dataset, image, target_bpp)
    notes: list[str] = []
    if points.empty:
        return None, [f"{dataset}/{image}: no stored reconstructions (save_reconstructions covers the first N "
                      f"images of a run)"]
    panels: list[tuple[str, np.ndarray]] = []
    if original is not None:  # None: the caller says why (see original_for)
        panels.append(("original", load_image(original)[0]))
    for point in points.itertuples():
        path = Path(results_dir) / point.recon_path
        try:
            panels.append((f"{display_name(point.curve)}\n{point.bpp:.4f} bpp ({point.op_label})",
                           load_image(path)[0]))
        except RdpbenchError as exc:
            notes.append(f"{dataset}/{image}/{point.curve}: {exc}")
    if not panels:
        return None, notes
    reference_shape = panels[0][1].shape
    notes += [f"{dataset}/{image}/{label.splitlines()[0]}: size {pixels.shape} differs from {reference_shape}, left out"
              for label, pixels in panels if pixels.shape != reference_shape]
    panels = [(label, pixels) for label, pixels in panels if pixels.shape == reference_shape]
    window = crop_window(reference_shape, crop)
    columns = min(4, len(panels))
    grid_rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(grid_rows, columns, figsize=(3.0 * columns, 3.5 * grid_rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (label, pixels) in zip(axes.flat, panels):
        ax.imshow(pixels[window], interpolation="nearest")
        ax.set_title(label, fontsize=8)
    fig.suptitle(f"{dataset} / {image}: nearest to {target_bpp:g} bpp", fontsize=10)
    fig.tight_layout()
    return fig, notes
