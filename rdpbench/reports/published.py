"""Convert published RD points into results-compatible CSVs (results/published/), and read them back.

Re-run with `python -m rdpbench.reports.cli convert-published` (default source: ../shared/anchors/published
next to the checkout; `--source DIR` for another copy).
Output columns: dataset, image (empty for dataset means), codec, op_label, bpp, one column per
metric in rdpbench's names (psnr, ms_ssim, lpips, dists, fid, fid_swav, kid), lpips_net (the
LPIPS backbone the source used: alex, vgg, unknown; empty without LPIPS), source, note.
Decisions (also written to SOURCES.md):
- CompressAI `ms-ssim-rgb` is linear MS-SSIM and is kept; `ms-ssim-db-rgb` (paper-* files) is
  converted back to linear with ms_ssim = 1 - 10^(-dB/10), the exact inverse of the dB form.
- CompressAI 8bit-decoded `*_ms-ssim_*` files are skipped: upstream mislabelled them (same RD
  content as the *_mse_* files).
- NeuralCompression's `clic2020` is mapped to `clic2020-professional` (see DATASET_MAP).
- DiffC project-page points are single images; they keep the image name and are not drawn on
  dataset-mean plots by default.
- A system reported in another system's results (DiffEIC's sheet, SPRDiff's figure) is named
  `<system> [<where>]`, so it never merges with the system's own published curve.
- LPIPS backbones: reports draw and BD-rate a published LPIPS curve only against measured LPIPS of
  the same backbone (`lpips_net`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from rdpbench.errors import DatasetError

METRICS = ["psnr", "ms_ssim", "lpips", "dists", "fid", "fid_swav", "kid"]
COLUMNS = ["dataset", "image", "codec", "op_label", "bpp", *METRICS, "lpips_net", "source", "note"]
COMPRESSAI_DATASETS = ("kodak", "clic2020-professional", "clic2020-mobile")
DATASET_MAP = {"kodak": "kodak", "div2k": "div2k", "clic2020": "clic2020-professional"}
COMPRESSAI_SOURCE = "CompressAI results/image/{dataset}/{file} (InterDigitalInc/CompressAI)"
ILLM_SOURCE = "facebookresearch/NeuralCompression @3f12280 projects/illm/results.csv"
DIFFC_SOURCE = "JeremyIV/diffc-project-page @ebab2d3 src/components/demoData.ts"
STABLECODEC_SOURCE = "LuizScarlet/StableCodec @e7994cf results/results.txt"
DIFFEIC_SOURCE = "huai-chang/DiffEIC @9c21915 indicators/results.xlsx (sheet {sheet})"
SPRDIFF_SOURCE = "cshw2021/SPRDiff @ddc2094 assets/quan_com1.png, quan_com2.png (values read off the figure)"
# The papers' dataset names -> rdpbench dataset labels.
STABLECODEC_DATASETS = {"Kodak": "kodak", "CLIC2020-test": "clic2020-professional_test", "DIV2K-val": "div2k"}
PAPER_DATASETS = {"Kodak": "kodak", "CLIC2020": "clic2020-professional", "Tecnick": "tecnick"}
PAPER_METRICS = {"PSNR": "psnr", "MS-SSIM": "ms_ssim", "LPIPS": "lpips", "DISTS": "dists", "FID": "fid", "KID": "kid"}


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
                         codec=frame["model"], source=ILLM_SOURCE,
                         lpips_net="alex")  # torchmetrics' LPIPS default, as in projects/illm/eval_folder_example.py
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
                         note=np.where(size != "", note + "; size " + size, note), lpips_net="unknown")
    return frame.reindex(columns=COLUMNS)


def convert_stablecodec(csv_path: Path) -> pd.DataFrame:
    """StableCodec's own results (tidy CSV of results.txt): 9 points per dataset at 0.004-0.036 bpp."""
    frame = pd.read_csv(csv_path)
    note = ("LPIPS-Alex (torchmetrics, per its src/evaluate.py), DISTS (pyiqa), FID/KID patch-based "
            "(neuralcompression update_patch_fid); CLIC2020 test taken as the professional test split")
    frame = frame.assign(dataset=frame["dataset"].map(STABLECODEC_DATASETS), image="", codec=frame["system"],
                         op_label="point=" + frame["point"].astype(str), lpips_net="alex", source=STABLECODEC_SOURCE,
                         note=note)
    return frame.reindex(columns=COLUMNS)


def convert_diffeic(csv_path: Path) -> pd.DataFrame:
    """DiffEIC's results sheet: DiffEIC and the systems it compares with (BPG, VTM, HiFiC, MS-ILLM, ...).

    Its LPIPS is AlexNet's: the sheet's MS-ILLM rows reproduce NeuralCompression's LPIPS-Alex values
    to 4 decimals. SSIM and NIQE are not rdpbench metrics and are left out, and so are rows without a
    rate ("SD Encoder", bpp "/": the autoencoder alone, an upper bound rather than a codec).
    """
    frame = pd.read_csv(csv_path, dtype={"point": str}).rename(columns=PAPER_METRICS)
    frame = frame[pd.to_numeric(frame["bpp"], errors="coerce").notna()].astype({"bpp": float})
    own = frame["system"] == "DiffEIC"
    frame = frame.assign(dataset=frame["dataset"].map(PAPER_DATASETS), image="",
                         codec=frame["system"].where(own, frame["system"] + " [DiffEIC sheet]"),
                         op_label="point=" + frame["point"], lpips_net="alex",
                         source=[DIFFEIC_SOURCE.format(sheet=d) for d in frame["dataset"]],
                         note="values as in the sheet; CLIC2020 split not stated (taken as professional)")
    return frame.reindex(columns=COLUMNS)


def convert_sprdiff(csv_path: Path) -> pd.DataFrame:
    """Points read off SPRDiff's README figure (one metric per point, about +/-0.0005 bpp and 1 % of the
    axis). Its LPIPS values disagree with the systems' own LPIPS-Alex files (a different backbone,
    not stated), so `lpips_net` is unknown and they are never drawn with measured LPIPS."""
    frame = pd.read_csv(csv_path).sort_values(["method", "dataset", "metric", "bpp"], ignore_index=True)
    metric = frame["metric"].map(PAPER_METRICS)
    wide = pd.DataFrame({name: frame["value"].where(metric == name) for name in METRICS})
    frame = pd.concat([frame, wide], axis=1).assign(
        dataset=frame["dataset"].map(PAPER_DATASETS), image="", codec=frame["method"] + " [SPRDiff figure]",
        op_label=frame["metric"] + " point=" + frame.groupby(["method", "dataset", "metric"]).cumcount().astype(str),
        lpips_net=np.where(metric == "lpips", "unknown", ""), source=SPRDIFF_SOURCE,
        note="read off a figure: about +/-0.0005 bpp and 1% of the axis span")
    return frame.reindex(columns=COLUMNS)


def convert_all(source: Path, destination: Path) -> list[Path]:
    """Write one CSV per source under `destination` (see SOURCES.md there)."""
    if not source.is_dir():
        raise DatasetError(f"published-curves folder {source} does not exist; pass --source <anchors/published>")
    destination.mkdir(parents=True, exist_ok=True)
    outputs = {"compressai.csv": convert_compressai(source / "compressai"),
               "neuralcompression_illm.csv": convert_illm(source / "neuralcompression" / "illm_results.csv"),
               "diffc_demo.csv": convert_diffc(source / "diffc" / "project_page_demo_points.csv"),
               "stablecodec.csv": convert_stablecodec(source / "stablecodec" / "stablecodec_results_tidy.csv"),
               "diffeic.csv": convert_diffeic(source / "diffeic" / "diffeic_results_tidy.csv"),
               "sprdiff_figure.csv": convert_sprdiff(source / "sprdiff" / "sprdiff_readme_figure_digitized.csv")}
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


def lpips_backbone(implementation: str) -> str:
    """'alex' or 'vgg' from a measured LPIPS implementation string (rdpbench.metrics.lpips_metric)."""
    text = implementation.lower()
    return "alex" if "alexnet" in text else "vgg" if "vgg" in text else "unknown"


def comparable(published: pd.DataFrame, rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Published points with LPIPS kept only where the source used the backbone of the measured LPIPS
    in `rows` (one dataset's rows), so LPIPS-Alex and -VGG never meet in one panel or BD value; the
    notes name what was left out."""
    if published.empty or "lpips" not in published or published["lpips"].isna().all():
        return published, []
    measured = {lpips_backbone(json.loads(impl)["lpips"]) for impl in rows.get("metric_impl", pd.Series(dtype=str))
                .dropna() if "lpips" in json.loads(impl)}
    if not measured:
        return published, []
    published = published.reindex(columns=list(dict.fromkeys([*published.columns, "lpips_net"])))
    keep = published["lpips_net"].eq(next(iter(measured))) if len(measured) == 1 else False
    dropped = published.loc[published["lpips"].notna() & ~keep, ["codec", "lpips_net"]].drop_duplicates()
    if dropped.empty:
        return published, []
    mixed = "measured rows mix LPIPS backbones" if len(measured) > 1 else f"measured LPIPS is {measured.pop()}"
    names = ", ".join(f"{c} ({n if isinstance(n, str) else 'unknown'})" for c, n in dropped.itertuples(index=False))
    return published.assign(lpips=published["lpips"].where(keep)), [
        f"published LPIPS left out where the backbone differs ({mixed}): {names}"]


def published_points(published: pd.DataFrame, rows: pd.DataFrame, dataset: str,
                     codecs: list[str] | tuple[str, ...] | None) -> tuple[pd.DataFrame, list[str]]:
    """The published dataset-mean points drawn or used as anchors with one measured dataset: those of
    `codecs` (None: all), with LPIPS only where the backbone matches the measured LPIPS (see `comparable`)."""
    chosen = published_for(published, dataset, list(codecs) if codecs is not None else None)
    return comparable(chosen, rows[rows["dataset"] == dataset])
