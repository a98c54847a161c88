"""The harness end to end: honest rows, decode-from-bytes, resumption, failures, rate control."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from PIL import Image

import rdpbench.codecs  # noqa: F401
from rdpbench.results.store import load_failures, load_rows
from rdpbench.runners.run import run
from rdpbench.runners.tasks import build_codec

REPO = Path(__file__).resolve().parents[1]


def config(*overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "run.py"), *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_rows_are_honest_and_decoded_from_the_stored_bytes(tmp_path):
    report = run(config("codec=jpeg", "codec.ops.quality=[5,40]", f"results_dir={tmp_path}",
                        "save_reconstructions=all"), "jpeg")
    assert report.exit_code == 0 and report.done == 4
    rows = load_rows(tmp_path)
    assert len(rows) == 8
    codec = build_codec({"_target_": "rdpbench.codecs.pillow_codecs.JPEG"})
    for row in rows.itertuples():
        stream = (tmp_path / row.stream_path).read_bytes()
        assert row.bytes == len(stream) == row.bytes_header + row.bytes_payload
        assert row.bpp == pytest.approx(8 * len(stream) / (row.width * row.height))
        assert row.header_bytes == row.bytes_header > 0
        recon = np.asarray(Image.open(tmp_path / row.recon_path))
        assert np.array_equal(recon, codec.decode(stream))
        assert json.loads(row.metric_impl).keys() == {"psnr", "ms_ssim"}
        assert row.psnr > 15 and 0 < row.ms_ssim <= 1
        assert len(row.config_hash) == 64 and row.git_commit
        assert "numpy" in json.loads(row.versions)
    assert (tmp_path / "rows" / "sample").is_dir()
    assert set(report.summary["op_label"]) == {"quality=5", "quality=40"}


def test_rerun_skips_finished_images_and_resumes_a_killed_run(tmp_path):
    overrides = ("codec=webp", "codec.ops.quality=[10]", f"results_dir={tmp_path}")
    first = run(config(*overrides), "webp")
    assert first.done == 4
    row_files = sorted((tmp_path / "rows").rglob("*.json"))
    before = {p: p.stat().st_mtime_ns for p in row_files}
    row_files[1].unlink()  # as if the run had been killed before this image finished
    second = run(config(*overrides), "webp")
    assert (second.done, second.skipped) == (1, 3)
    assert all(p.stat().st_mtime_ns == before[p] for p in row_files if p != row_files[1])
    changed = run(config("codec=webp", "codec.ops.quality=[10]", "codec.method=4", f"results_dir={tmp_path}"), "webp")
    assert changed.done == 4, "a different codec config is a different result set"


def test_bad_image_is_listed_and_the_run_goes_on(tmp_path, small_image):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a", "c"):
        Image.fromarray(small_image).save(images / f"{name}.png")
    (images / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "out"
    proc = run_cli("codec=jpeg", "codec.ops.quality=[10]", "dataset=folder", f"dataset.path={images}",
                   f"results_dir={out}")
    assert proc.returncode == 1
    assert "b.png" in proc.stdout and "2 image tasks done" in proc.stdout
    assert sorted(load_rows(out)["image"]) == ["a", "c"]
    assert "b.png" in load_failures(out)["error"].iloc[0]


def test_target_bpp_lands_at_or_under_target_and_flags_unreachable(tmp_path):
    report = run(config("codec=jpeg", "target_bpp=[0.001,0.3,0.6]", f"results_dir={tmp_path}"), "jpeg")
    assert report.exit_code == 0
    rows = load_rows(tmp_path)
    reachable = rows[rows["target_bpp"] > 0.01]
    assert (reachable["bpp"] <= reachable["target_bpp"]).all()
    assert reachable["target_reached"].all()
    assert (reachable["bpp"] > 0.7 * reachable["target_bpp"]).all(), "bisection should land close to the target"
    unreachable = rows[rows["target_bpp"] == 0.001]
    assert not unreachable["target_reached"].any()
    assert set(json.loads(unreachable["op"].iloc[0])) == {"quality"}


def test_isolated_verification_and_suites(tmp_path):
    report = run(config("codec=regress", "verify=isolated", "max_images=1", f"results_dir={tmp_path}",
                        "codec.avif.ops.quality=[20]", "codec.jpeg2000.ops.psnr_target=[24]",
                        "codec.webp.ops.quality=[10]", "codec.jpeg.ops.quality=[10]",
                        "codec.resample_jpeg.ops.quality=[10]"), "regress")
    rows = load_rows(tmp_path)
    assert set(rows["codec"]) == {"jpeg", "webp", "avif", "jpeg2000", "resample_jpeg"}
    assert (rows["verified"] == "isolated").all() and report.exit_code == 0


def test_parallel_workers_give_the_same_rows(tmp_path):
    common = ("codec=jpeg", "codec.ops.quality=[10,30]")
    run(config(*common, f"results_dir={tmp_path / 'one'}"), "jpeg")
    run(config(*common, f"results_dir={tmp_path / 'two'}", "workers=2"), "jpeg")
    keys = ["image", "op_label", "bytes", "psnr"]
    one = load_rows(tmp_path / "one")[keys].sort_values(keys).reset_index(drop=True)
    two = load_rows(tmp_path / "two")[keys].sort_values(keys).reset_index(drop=True)
    assert one.equals(two)


@pytest.mark.parametrize("group", sorted(p.stem for p in (REPO / "conf" / "metrics").glob("*.yaml")))
def test_every_metrics_group_names_its_ms_ssim_implementation(group):
    """One pinned implementation per metric: a group listing ms_ssim must choose it (the runner refuses None)."""
    cfg = config(f"metrics={group}")
    if "ms_ssim" in cfg.metrics.names:
        assert cfg.metrics.options.ms_ssim.implementation in ("numpy", "pytorch_msssim")


def test_threads_per_worker_is_validated(tmp_path):
    from rdpbench.errors import ConfigError

    with pytest.raises(ConfigError, match="threads=0"):
        run(config("codec=jpeg", "codec.ops.quality=[10]", "threads=0", f"results_dir={tmp_path}"), "jpeg")
    report = run(config("codec=jpeg", "codec.ops.quality=[10]", "threads=1", "workers=2", "max_images=2",
                        f"results_dir={tmp_path}"), "jpeg")
    assert report.exit_code == 0 and report.done == 2


def test_missing_metric_weights_leave_the_column_empty_and_say_why(tmp_path, monkeypatch):
    monkeypatch.setenv("RDPBENCH_CACHE", str(tmp_path / "empty-cache"))
    report = run(config("codec=jpeg", "codec.ops.quality=[10]", "metrics.names=[psnr,lpips]", "max_images=1",
                        f"results_dir={tmp_path}"), "jpeg")
    assert report.exit_code == 0
    rows = load_rows(tmp_path)
    assert rows["psnr"].notna().all() and rows["lpips"].isna().all()
    assert "alexnet" in report.unavailable_metrics["lpips"]
    assert "alexnet" in json.loads(rows["metric_errors"].iloc[0])["lpips"]


def test_dataset_metrics_are_stored_per_op_with_their_reason(tmp_path, monkeypatch):
    from rdpbench.results.store import load_dataset_metrics

    monkeypatch.setenv("RDPBENCH_CACHE", str(tmp_path / "empty-cache"))
    run(config("codec=jpeg", "codec.ops.quality=[10,30]", "metrics.names=[psnr,fid]", f"results_dir={tmp_path}"),
        "jpeg")
    rows = load_dataset_metrics(tmp_path)
    assert sorted(rows["op_label"]) == ["quality=10", "quality=30"]
    assert rows["value"].isna().all() and rows["reason"].str.contains("inception").all()
    assert (rows["n_images"] == 4).all()


@pytest.mark.parametrize("args, expected", [
    (["codec=nosuchcodec"], "Available options in 'codec'"),
    (["dataset=nosuchset"], "Available options in 'dataset'"),
    (["codec.ops.quality=[0]"], "outside [1, 100]"),
    (["metrics.names=[psnr,nosuchmetric]"], "unknown metric 'nosuchmetric'"),
])
def test_config_errors_are_clear(tmp_path, args, expected):
    proc = run_cli(*args, f"results_dir={tmp_path}")
    assert proc.returncode != 0
    assert expected in proc.stdout + proc.stderr


def test_a_worker_that_dies_fails_only_its_image_and_the_run_goes_on(tmp_path, small_image):
    from crashing_codec import SEGFAULT_WIDTH, SIGKILL_WIDTH

    images = tmp_path / "images"
    images.mkdir()
    widths = {"crash_segv": SEGFAULT_WIDTH, "fine_a": 80, "crash_kill": SIGKILL_WIDTH, "fine_b": 90}
    for name, width in widths.items():
        Image.fromarray(np.ascontiguousarray(small_image[:64, :width])).save(images / f"{name}.png")
    out = tmp_path / "out"
    report = run(config("codec=jpeg", "codec._target_=crashing_codec.CrashingJPEG", "codec.ops.quality=[10]",
                        "dataset=folder", f"dataset.path={images}", f"results_dir={out}", "workers=1"), "crashing")
    assert report.done == 2 and len(report.failures) == 2
    assert sorted(load_rows(out)["image"]) == ["fine_a", "fine_b"]
    failures = load_failures(out).set_index("image")["error"]
    assert "killed by SIGSEGV" in failures["crash_segv"] and "killed by SIGKILL" in failures["crash_kill"]
    assert all(str(images / f"{name}.png") in failures[name] for name in ("crash_segv", "crash_kill"))


def test_a_stored_stream_changed_by_one_byte_is_refused_on_re_decode(tmp_path):
    from rdpbench.errors import CodecError, StoreError
    from rdpbench.results.store import ResultStore
    from rdpbench.runners.isolated import decode_stored_in_fresh_process

    run(config("codec=jpeg", "codec.ops.quality=[10]", "max_images=1", f"results_dir={tmp_path}"), "jpeg")
    row = load_rows(tmp_path).iloc[0].to_dict()
    store, path = ResultStore(tmp_path), tmp_path / row["stream_path"]
    codec = build_codec({"_target_": "rdpbench.codecs.pillow_codecs.JPEG"})
    assert np.array_equal(codec.decode(store.read_stream(row)), codec.decode(path.read_bytes()))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"was changed after the run.*delete its row file"):
        store.read_stream(row)
    with pytest.raises(CodecError, match="StoreError.*was changed after the run"):
        decode_stored_in_fresh_process({"_target_": "rdpbench.codecs.pillow_codecs.JPEG"}, path,
                                       row["stream_sha256"])


def test_colliding_file_names_all_get_their_own_rows(tmp_path, small_image):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("dup.png", "dup.jpg", "a b.png", "a_b.png"):
        Image.fromarray(small_image).save(images / name)
    out = tmp_path / "out"
    report = run(config("codec=jpeg", "codec.ops.quality=[10]", "dataset=folder", f"dataset.path={images}",
                        f"results_dir={out}"), "jpeg")
    assert report.done == 4 and report.exit_code == 0
    rows = load_rows(out)
    assert sorted(rows["image"]) == ["a b", "a_b", "dup.jpg", "dup.png"]
    assert rows["stream_path"].nunique() == 4
