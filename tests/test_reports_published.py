"""Conversion of published RD points into results-compatible CSVs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from rdpbench.errors import DatasetError
from rdpbench.reports.published import COLUMNS, convert_all, load_published, published_for

REPO = Path(__file__).resolve().parents[1]


def _source(root: Path) -> Path:
    kodak = root / "compressai" / "kodak"
    kodak.mkdir(parents=True)
    (kodak / "jpeg.json").write_text(json.dumps({"name": "JPEG", "description": "JPEG. Pillow", "results": {
        "bpp": [0.2, 0.4], "psnr-rgb": [24.0, 27.0], "ms-ssim-rgb": [0.8, 0.9]}}))
    (kodak / "paper-x_ms-ssim.json").write_text(json.dumps({"name": "x", "results": {
        "bpp": [0.1, 0.3], "ms-ssim-db-rgb": [10.0, 20.0]}}))
    eight = root / "compressai" / "8bit-decoded" / "kodak"
    eight.mkdir(parents=True)
    for name in ("compressai-m_mse_ans_cuda.json", "compressai-m_ms-ssim_ans_cuda.json"):
        (eight / name).write_text(json.dumps({"name": "m", "results": {"bpp": [0.1], "psnr-rgb": [28.0],
                                                                        "ms-ssim-rgb": [0.95]}}))
    (root / "neuralcompression").mkdir()
    (root / "neuralcompression" / "illm_results.csv").write_text(
        "model,dataset,bpp,fid,fid_swav,kid,lpips,dists,ms_ssim,psnr\n"
        "MS-ILLM,clic2020,0.03,6.2,1.7,0.001,0.11,0.08,0.89,27.8\n"
        "MS-ILLM,clic2020,0.06,4.4,1.2,0.0008,0.08,0.06,0.92,29.2\n"
        "MS-ILLM,kodak,0.04,,,,0.12,0.09,0.9,27.0\n")
    (root / "diffc").mkdir()
    (root / "diffc" / "project_page_demo_points.csv").write_text(
        "image,method,point_index,bpp,psnr,lpips,size_label\n"
        "kodak-06,diffc,0,0.0001,13.3,0.68,\n"
        "div2k-0002,msillm,3,0.05,25.0,0.2,small\n")
    return root


def test_convert_all(tmp_path):
    paths = convert_all(_source(tmp_path / "src"), tmp_path / "out")
    assert [p.name for p in paths] == ["compressai.csv", "neuralcompression_illm.csv", "diffc_demo.csv"]
    frame = load_published(tmp_path / "out")
    assert list(frame.columns) == COLUMNS
    paper = frame[frame.codec == "paper-x_ms-ssim"]
    assert list(paper["ms_ssim"]) == pytest.approx([0.9, 0.99])  # 1 - 10^(-dB/10)
    assert paper["note"].str.contains("converted from ms-ssim-db-rgb").all()
    assert set(frame.codec) >= {"jpeg", "compressai-m_mse_ans_cuda (8-bit decoded)"}
    assert not frame.codec.str.contains("m_ms-ssim_ans").any()  # mislabelled upstream, skipped
    illm = frame[frame.codec == "MS-ILLM"]
    assert sorted(illm.dataset.unique()) == ["clic2020-professional", "kodak"]
    assert list(illm[illm.dataset == "clic2020-professional"].op_label) == ["point=0", "point=1"]
    demo = frame[frame.source.str.contains("diffc")]
    assert list(demo.image) == ["kodim06", "0002"] and list(demo.codec) == ["DiffC (demo)", "MS-ILLM (demo)"]
    assert demo.note.iloc[1].endswith("size small")
    # single-image demo points never land on dataset-mean plots; split suffixes match
    assert "DiffC (demo)" not in set(published_for(frame, "kodak", None).codec)
    assert set(published_for(frame, "clic2020-professional_test", None).codec) == {"MS-ILLM"}


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist; pass --source"):
        convert_all(tmp_path / "nope", tmp_path / "out")


def test_shipped_published_curves_are_consistent():
    frame = load_published(REPO / "results" / "published")
    assert (REPO / "results" / "published" / "SOURCES.md").exists()
    assert set(frame.dataset) == {"kodak", "clic2020-professional", "clic2020-mobile", "div2k"}
    assert (frame["bpp"] > 0).all() and frame["source"].notna().all()
    linear = frame["ms_ssim"].dropna()
    assert ((linear > 0) & (linear <= 1)).all()  # no dB values left
    jpeg = frame[(frame.codec == "jpeg") & (frame.dataset == "kodak")]
    assert len(jpeg) == 19 and jpeg["bpp"].is_monotonic_increasing
