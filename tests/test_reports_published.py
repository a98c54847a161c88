"""Conversion of published RD points into results-compatible CSVs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from rdpbench.errors import DatasetError
from rdpbench.reports.published import COLUMNS, comparable, convert_all, load_published, published_for

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
    (root / "stablecodec").mkdir()
    (root / "stablecodec" / "stablecodec_results_tidy.csv").write_text(
        "system,dataset,point,bpp,psnr,ms_ssim,lpips,dists,fid,kid\n"
        "StableCodec,Kodak,0,0.00579,20.27,0.643,0.3097,0.1518,90.61,\n"
        "StableCodec,CLIC2020-test,0,0.00444,22.13,0.748,0.2562,0.1194,6.93,0.0011\n")
    (root / "diffeic").mkdir()
    (root / "diffeic" / "diffeic_results_tidy.csv").write_text(
        "system,dataset,point,bpp,PSNR,MS-SSIM,SSIM,LPIPS,DISTS,FID,KID,NIQE\n"
        "DiffEIC,Kodak,5,0.020084,19.57,0.6485,0.5058,0.3185,0.1644,,,4.2407\n"
        "MS-ILLM,Kodak,quality_1,0.044671,24.73,0.8461,0.6162,0.1576,0.134433,,,3.5874\n")
    (root / "sprdiff").mkdir()
    (root / "sprdiff" / "sprdiff_readme_figure_digitized.csv").write_text(
        "method,dataset,metric,bpp,value,blob_px\n"
        "DiffEIC,Kodak,LPIPS,0.0202,0.41681,16\n"
        "DiffEIC,Kodak,PSNR,0.0201,19.5,16\n"
        "SPRDiff,Kodak,DISTS,0.01,0.12,18\n")
    return root


def test_convert_all(tmp_path):
    paths = convert_all(_source(tmp_path / "src"), tmp_path / "out")
    assert [p.name for p in paths] == ["compressai.csv", "neuralcompression_illm.csv", "diffc_demo.csv",
                                       "stablecodec.csv", "diffeic.csv", "sprdiff_figure.csv"]
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
    assert set(published_for(frame, "clic2020-professional_test", None).codec) == {"MS-ILLM", "StableCodec"}


def test_new_anchor_sources_record_their_lpips_backbone_and_where_each_system_was_reported(tmp_path):
    convert_all(_source(tmp_path / "src"), tmp_path / "out")
    frame = load_published(tmp_path / "out").set_index("codec")
    stable = frame.loc["StableCodec"]
    assert set(stable.dataset) == {"kodak", "clic2020-professional_test"} and set(stable.lpips_net) == {"alex"}
    assert frame.loc["DiffEIC", "lpips"] == 0.3185 and frame.loc["DiffEIC", "lpips_net"] == "alex"
    assert frame.loc["MS-ILLM [DiffEIC sheet]", "lpips"] == 0.1576  # never merged with MS-ILLM's own file
    sprdiff = frame.loc["DiffEIC [SPRDiff figure]"].set_index("op_label")
    assert sprdiff.loc["LPIPS point=0", "lpips"] == 0.41681 and sprdiff.loc["LPIPS point=0", "lpips_net"] == "unknown"
    assert pd.isna(sprdiff.loc["LPIPS point=0", "psnr"]) and sprdiff.loc["PSNR point=0", "psnr"] == 19.5
    assert pd.isna(frame.loc["MS-ILLM (demo)", "lpips_net"]) is False
    assert set(frame[frame.source.str.contains("CompressAI")].lpips_net.fillna("")) == {""}


def test_published_lpips_is_only_kept_for_the_measured_backbone():
    published = pd.DataFrame({"dataset": "kodak", "image": "", "codec": ["A", "B", "C"], "bpp": 0.02,
                              "psnr": 20.0, "lpips": [0.3, 0.4, None], "lpips_net": ["alex", "unknown", None]})
    alex = pd.DataFrame({"metric_impl": ['{"lpips": "LPIPS v0.1 AlexNet (lpips 0.1.4, ...)"}']})
    kept, notes = comparable(published, alex)
    assert list(kept.lpips.notna()) == [True, False, False] and list(kept.psnr) == [20.0] * 3
    assert notes and "B (unknown)" in notes[0] and "measured LPIPS is alex" in notes[0]
    vgg = pd.DataFrame({"metric_impl": ['{"lpips": "LPIPS v0.1 VGG16 (lpips 0.1.4, ...)"}']})
    assert comparable(published, vgg)[0].lpips.isna().all()
    no_lpips = pd.DataFrame({"metric_impl": ['{"psnr": "x"}']})
    assert comparable(published, no_lpips)[0].lpips.notna().sum() == 2


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist; pass --source"):
        convert_all(tmp_path / "nope", tmp_path / "out")


def test_shipped_published_curves_are_consistent():
    frame = load_published(REPO / "results" / "published")
    assert (REPO / "results" / "published" / "SOURCES.md").exists()
    assert set(frame.dataset) == {"kodak", "clic2020-professional", "clic2020-professional_test", "clic2020-mobile",
                                  "div2k", "tecnick"}
    assert {"StableCodec", "DiffEIC", "No-GAN"} <= set(frame[frame.dataset == "kodak"].codec)
    low = frame[(frame.dataset == "kodak") & (frame.bpp <= 0.05)]  # anchors for the ultra-low range exist
    assert low.groupby("codec").size().get("StableCodec") == 9
    assert (frame["bpp"] > 0).all() and frame["source"].notna().all()
    linear = frame["ms_ssim"].dropna()
    assert ((linear > 0) & (linear <= 1)).all()  # no dB values left
    jpeg = frame[(frame.codec == "jpeg") & (frame.dataset == "kodak")]
    assert len(jpeg) == 19 and jpeg["bpp"].is_monotonic_increasing
