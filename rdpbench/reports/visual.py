"""Visual comparison grids: the same crop of one image from every codec, at the op nearest a target bpp."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rdpbench.data import Dataset, Folder, Sample, load_image  # noqa: E402
from rdpbench.errors import DatasetError, RdpbenchError  # noqa: E402
from rdpbench.reports.curves import add_curve_labels  # noqa: E402

DEFAULT_CROP = 256
CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"


def _configured_dataset(label: str, data_root: Path) -> Dataset:
    """The dataset whose rows carry `label`, built from conf/dataset/ like the runner builds it
    (label "clic2020-professional_test" -> config clic2020 with split professional_test), offline."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from hydra.utils import instantiate

    name, _, split = label.partition("-")
    overrides = [f"dataset={name}", f"data_root={data_root}", "offline=true"]
    overrides += [f"dataset.split={split}"] if split else []
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
            dataset = instantiate(compose(config_name="config", overrides=overrides).dataset)
    except HydraException as exc:
        raise DatasetError(f"cannot build dataset {label!r} from {CONFIG_DIR}/dataset/ ({exc}); "
                           f"pass --originals DIR instead") from exc
    if dataset.label != label:
        raise DatasetError(f"config dataset={name} gives label {dataset.label!r}, not {label!r}; pass --originals DIR")
    return dataset


def original_paths(dataset: str, originals_dir: str | Path | None = None,
                   data_root: str | Path | None = None) -> dict[str, Path]:
    """Image name -> original file. The store keeps no originals: they come from `originals_dir`
    (any folder of images named like the rows' `image`), the shipped `sample` set, or the
    dataset re-read through rdpbench.data under `data_root` (checksums verified, never downloaded)."""
    if originals_dir is not None:
        source: Dataset = Folder(str(originals_dir), name=dataset)
    elif dataset == Sample.name:
        source = Sample()
    elif data_root is not None:
        source = _configured_dataset(dataset, Path(data_root))
    else:
        return {}
    return {ref.name: ref.path for ref in source.images()}


def nearest_points(rows: pd.DataFrame, dataset: str, image: str, target_bpp: float) -> pd.DataFrame:
    """Per curve, the row of `image` with a stored reconstruction whose bpp is nearest `target_bpp`
    (nearest in log-rate, since ultra-low rates span decades)."""
    if not target_bpp > 0:
        raise RdpbenchError(f"target bpp must be positive, got {target_bpp}")
    if "recon_path" not in rows:
        return rows.iloc[:0]
    selected = add_curve_labels(rows[rows["dataset"] == dataset])
    selected = selected[(selected["image"] == image) & selected["recon_path"].fillna("").astype(bool)]
    if selected.empty:
        return selected
    distance = (np.log(selected["bpp"].clip(lower=1e-9)) - math.log(target_bpp)).abs()
    best = selected.assign(distance=distance).sort_values(["curve", "distance"]).groupby("curve").head(1)
    return best.sort_values("bpp").reset_index(drop=True)


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
    if original is not None:
        panels.append(("original", load_image(original)[0]))
    else:
        notes.append(f"{dataset}/{image}: original not available (pass --originals DIR)")
    for point in points.itertuples():
        path = Path(results_dir) / point.recon_path
        try:
            panels.append((f"{point.curve}\n{point.bpp:.4f} bpp ({point.op_label})", load_image(path)[0]))
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
