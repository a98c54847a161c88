"""Convert published RD points into results-compatible CSVs (results/published/), and read them back.

Re-run with `python -m rdpbench.reports.cli convert-published --source <anchors/published>`.
Output columns: dataset, image (empty for dataset means), codec, op_label, bpp, one column per
metric in rdpbench's names (psnr, ms_ssim, lpips, dists, fid, fid_swav, kid), source, note.
Decisions (also written to SOURCES.md):
- CompressAI `ms-ssim-rgb` is linear MS-SSIM and is kept; `ms-ssim-db-rgb` (paper-* files) is
  converted back to linear with ms_ssim = 1 - 10^(-dB/10), the exact inverse of the dB form.
- CompressAI 8bit-decoded `*_ms-ssim_*` files are skipped: upstream mislabelled them (same RD
  content as the *_mse_* files).
- NeuralCompression's `clic2020` is mapped to `clic2020-professional` (see DATASET_MAP).
- DiffC project-page points are single images; they keep the image name and are not drawn on
  dataset-mean plots by default.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from rdpbench.errors import DatasetError

COLUMNS = ["dataset", "image", "codec", "op_label", "bpp", "psnr", "ms_ssim", "lpips", "dists", "fid", "fid_swav",
           "kid", "source", "note"]
COMPRESSAI_DATASETS = ("kodak", "clic2020-professional", "clic2020-mobile")
DATASET_MAP = {"kodak": "kodak", "div2k": "div2k", "clic2020": "clic2020-professional"}
COMPRESSAI_SOURCE = "CompressAI results/image/{dataset}/{file} (InterDigitalInc/CompressAI)"
ILLM_SOURCE = "facebookresearch/NeuralCompression @3f12280 projects/illm/results.csv"
DIFFC_SOURCE = "JeremyIV/diffc-project-page @ebab2d3 src/components/demoData.ts"


def _compressai_file(path: Path, dataset: str, eight_bit: bool) -> pd.DataFrame:
    content = json.loads(path.read_text())
    results = content["results"]
    frame = pd.DataFrame({"bpp": results["bpp"]})
    notes = [content.get("description", "")]
    if "psnr-rgb" in results:
        frame["psnr"] = results["psnr-rgb"]
    if "ms-ssim-rgb" in results:
        frame["ms_ssim"] = results["ms-ssim-rgb"]
    elif "ms-ssim-db-rgb" in results:
        frame["ms_ssim"] = 1 - 10 ** (-np.asarray(results["ms-ssim-db-rgb"], dtype=float) / 10)
        notes.append("ms_ssim converted from ms-ssim-db-rgb (1 - 10^(-dB/10))")
    codec = path.stem + (" (8-bit decoded)" if eight_bit else "")
    subdir = f"8bit-decoded/{dataset}" if eight_bit else dataset
    return frame.assign(dataset=dataset, image="", codec=codec, op_label=[f"point={i}" for i in range(len(frame))],
                        source=COMPRESSAI_SOURCE.format(dataset=subdir, file=path.name),
                        note="; ".join(n for n in notes if n))


def convert_compressai(root: Path) -> pd.DataFrame:
    frames = []
    for dataset in COMPRESSAI_DATASETS:
        frames += [_compressai_file(p, dataset, False) for p in sorted((root / dataset).glob("*.json"))]
        frames += [_compressai_file(p, dataset, True) for p in sorted((root / "8bit-decoded" / dataset).glob("*.json"))
                   if "_ms-ssim_" not in p.name]  # mislabelled upstream: identical to the _mse_ files
    return pd.concat(frames, ignore_index=True).reindex(columns=COLUMNS)


def convert_illm(csv_path: Path) -> pd.DataFrame:
    frame = pd.read_csv(csv_path)
    frame["op_label"] = frame.groupby(["model", "dataset"]).cumcount().map(lambda i: f"point={i}")
    notes = {"clic2020": "NeuralCompression 'clic2020' taken as the CLIC2020 professional test set (split not "
                         "stated in the CSV); fid/kid are patch-based (256 px patches)",
             "div2k": "DIV2K validation; fid/kid are patch-based (256 px patches)",
             "kodak": "too few patches for FID on Kodak (blank upstream)"}
    frame = frame.assign(note=frame["dataset"].map(notes), dataset=frame["dataset"].map(DATASET_MAP), image="",
                         codec=frame["model"], source=ILLM_SOURCE)
    return frame.reindex(columns=COLUMNS)


def convert_diffc(csv_path: Path) -> pd.DataFrame:
    frame = pd.read_csv(csv_path)
    dataset = frame["image"].str.split("-").str[0]
    number = frame["image"].str.split("-").str[1]
    image = np.where(dataset == "kodak", "kodim" + number, number)
    names = {"diffc": "DiffC (demo)", "msillm": "MS-ILLM (demo)", "perco": "PerCo (demo)", "diffeic": "DiffEIC (demo)"}
    note = pd.Series(np.where(dataset == "kodak", "single Kodak image",
                              "single DIV2K image (1024x1024, index from the project page)"), index=frame.index)
    size = frame["size_label"].fillna("").astype(str)
    frame = frame.assign(dataset=dataset, image=image, codec=frame["method"].map(names),
                         op_label="point=" + frame["point_index"].astype(str), source=DIFFC_SOURCE,
                         note=np.where(size != "", note + "; size " + size, note))
    return frame.reindex(columns=COLUMNS)


def convert_all(source: Path, destination: Path) -> list[Path]:
    """Write compressai.csv, neuralcompression_illm.csv and diffc_demo.csv under `destination`."""
    if not source.is_dir():
        raise DatasetError(f"published-curves folder {source} does not exist; pass --source <anchors/published>")
    destination.mkdir(parents=True, exist_ok=True)
    outputs = {"compressai.csv": convert_compressai(source / "compressai"),
               "neuralcompression_illm.csv": convert_illm(source / "neuralcompression" / "illm_results.csv"),
               "diffc_demo.csv": convert_diffc(source / "diffc" / "project_page_demo_points.csv")}
    paths = []
    for name, frame in outputs.items():
        frame.to_csv(destination / name, index=False)
        paths.append(destination / name)
    return paths


def load_published(folder: Path) -> pd.DataFrame:
    """All converted published points (empty frame when the folder holds none)."""
    files = sorted(Path(folder).glob("*.csv"))
    if not files:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.concat([pd.read_csv(f, dtype={"image": str}, keep_default_na=True) for f in files], ignore_index=True)
    frame["image"] = frame["image"].fillna("")
    return frame


def published_for(published: pd.DataFrame, dataset: str, codecs: list[str] | None) -> pd.DataFrame:
    """Dataset-mean published points drawn on a results dataset's plots.

    A published dataset matches a results label when equal or when the label adds a split
    suffix (`clic2020-professional_test`); `codecs` None means every dataset-mean curve.
    """
    if published.empty:
        return published
    names = published["dataset"].astype(str)
    match = (names == dataset) | names.map(lambda n: dataset.startswith(f"{n}_"))
    chosen = published[match & (published["image"] == "")]
    return chosen if codecs is None else chosen[chosen["codec"].isin(codecs)]
