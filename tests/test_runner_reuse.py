"""Stored rows are reused only when they mean what the run asks for; missing parts come from stored bytes.

Rate-control targets, the metric set, metric implementations and the verify mode all decide
whether an image's rows can be reused. Adding metrics or a verification to finished images
decodes their stored streams and never encodes again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

import rdpbench.codecs  # noqa: F401
from rdpbench.codecs.pillow_codecs import JPEG
from rdpbench.errors import ConfigError
from rdpbench.results.store import load_metric_info, load_rows
from rdpbench.runners.run import codec_configs, run
from rdpbench.runners.tasks import build_codec
from rdpbench.weights import sha256_of

REPO = Path(__file__).resolve().parents[1]
ONE_IMAGE = ("codec=jpeg", "codec.ops.quality=[5,30]", "max_images=1")


def config(*overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def no_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("encoded again although the streams are in the store")

    monkeypatch.setattr(JPEG, "encode_payload", refuse)


def test_rate_control_targets_are_part_of_what_makes_rows_reusable(tmp_path):
    fixed = run(config(*ONE_IMAGE, f"results_dir={tmp_path}"), "jpeg")
    targeted = run(config(*ONE_IMAGE, f"results_dir={tmp_path}", "target_bpp=[0.2]"), "jpeg")
    assert (fixed.done, targeted.done, targeted.skipped) == (1, 1, 0), "fixed-op rows stood in for targeted ones"
    assert list(targeted.summary["op_label"]) == ["target_bpp=0.2"]
    other = run(config(*ONE_IMAGE, f"results_dir={tmp_path}", "target_bpp=[0.3]"), "jpeg")
    assert other.done == 1 and list(other.summary["op_label"]) == ["target_bpp=0.3"]
    again = run(config(*ONE_IMAGE, f"results_dir={tmp_path}", "target_bpp=[0.2]"), "jpeg")
    assert (again.done, again.skipped) == (0, 1)
    rows = load_rows(tmp_path)
    assert rows["config_hash"].nunique() == 3
    targeted_rows = rows[rows["op_label"].str.startswith("target_bpp")]
    assert sorted(targeted_rows["target_bpp"]) == [0.2, 0.3]
    assert (targeted_rows["bpp"] <= targeted_rows["target_bpp"]).all()


def test_added_metrics_are_computed_from_the_stored_streams_only(tmp_path, monkeypatch):
    first = run(config(*ONE_IMAGE, f"results_dir={tmp_path}"), "jpeg")
    assert first.done == 1
    streams = {p: p.stat().st_mtime_ns for p in (tmp_path / "streams").rglob("*.bin")}
    before = load_rows(tmp_path).set_index("op_label")
    no_encoding(monkeypatch)
    more = run(config(*ONE_IMAGE, f"results_dir={tmp_path}", "metrics=piq", "metrics.names=[psnr,ms_ssim,gmsd]"),
               "jpeg")
    assert (more.done, more.completed, more.skipped, more.failures) == (0, 1, 0, [])
    assert "gmsd" not in more.unavailable_metrics and more.summary["gmsd"].notna().all()
    after = load_rows(tmp_path).set_index("op_label")
    assert len(after) == len(before) == 2
    assert (after["psnr"] == before["psnr"]).all() and (after["bytes"] == before["bytes"]).all()
    assert all(json.loads(impl).keys() == {"psnr", "ms_ssim", "gmsd"} for impl in after["metric_impl"])
    assert {p: p.stat().st_mtime_ns for p in streams} == streams
    assert load_metric_info(tmp_path)["gmsd"].higher_is_better is False
    same = run(config(*ONE_IMAGE, f"results_dir={tmp_path}", "metrics=piq", "metrics.names=[psnr,gmsd]"), "jpeg")
    assert (same.completed, same.skipped) == (0, 1), "a subset of the stored metrics needs nothing new"


def test_a_changed_metric_implementation_is_recomputed(tmp_path, monkeypatch):
    names = ("metrics=piq", "metrics.names=[psnr,ms_gmsd]")
    run(config(*ONE_IMAGE, *names, f"results_dir={tmp_path}"), "jpeg")
    plain = load_rows(tmp_path).set_index("op_label")
    no_encoding(monkeypatch)
    chromatic = run(config(*ONE_IMAGE, *names, "+metrics.options.ms_gmsd.chromatic=true",
                           f"results_dir={tmp_path}"), "jpeg")
    assert (chromatic.done, chromatic.completed) == (0, 1)
    colour = load_rows(tmp_path).set_index("op_label")
    assert all("chromatic=True" in json.loads(i)["ms_gmsd"] for i in colour["metric_impl"])
    assert not (colour["ms_gmsd"] == plain["ms_gmsd"]).any()
    assert (colour["psnr"] == plain["psnr"]).all()


def test_verify_mode_is_part_of_what_makes_rows_reusable(tmp_path, monkeypatch):
    overrides = ("codec=jpeg", "codec.ops.quality=[10]", "max_images=1", f"results_dir={tmp_path}")
    run(config(*overrides), "jpeg")
    assert set(load_rows(tmp_path)["verified"]) == {"none"}
    no_encoding(monkeypatch)
    verified = run(config(*overrides, "verify=isolated"), "jpeg")
    assert (verified.done, verified.completed, verified.failures) == (0, 1, [])
    assert set(load_rows(tmp_path)["verified"]) == {"isolated"}
    plain_again = run(config(*overrides), "jpeg")
    assert plain_again.skipped == 1, "isolated-verified rows also serve a run that asks for no verification"


@pytest.mark.parametrize("targets", ["[-0.5]", "[0]", "[0.1,-1]", "[]"])
def test_non_positive_target_rates_are_refused(tmp_path, targets):
    with pytest.raises(ConfigError, match="positive"):
        run(config(*ONE_IMAGE, f"results_dir={tmp_path}", f"target_bpp={targets}"), "jpeg")


def test_rows_record_which_original_they_were_measured_on(tmp_path, kodak_root):
    run(config(*ONE_IMAGE, f"results_dir={tmp_path}"), "jpeg")
    run(config(*ONE_IMAGE, "dataset=kodak", f"data_root={kodak_root}", f"results_dir={tmp_path}"), "kodak")
    rows = load_rows(tmp_path).drop_duplicates("dataset").set_index("dataset")
    assert rows.loc["sample", ["image_root", "image_path"]].tolist() == ["package", "sample/kodim04_half.png"]
    assert (rows.loc["kodak", "image_root"], rows.loc["kodak", "image_path"]) == ("data_root", "kodak/kodim01.png")
    assert rows.loc["kodak", "image_sha256"] == sha256_of(kodak_root / "kodak" / "kodim01.png")
    assert (rows.loc["kodak", "dataset_id"], rows.loc["kodak", "dataset_size"]) == ("kodak", 24)
    assert rows.loc["sample", "dataset_size"] == 4


def test_the_summary_covers_this_runs_dataset_codecs_and_images_only(tmp_path, small_image):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(small_image).save(folder / "a.png")
    run(config("codec=jpeg", "codec.ops.quality=[5]", f"results_dir={tmp_path}"), "jpeg")
    mine = run(config("codec=webp", "codec.ops.quality=[5]", "dataset=folder", f"dataset.path={folder}",
                      f"results_dir={tmp_path}"), "webp")
    assert set(mine.summary["dataset"]) == {"folder"} and set(mine.summary["codec"]) == {"webp"}
    assert set(mine.store_summary["dataset"]) == {"sample", "folder"}
    few = run(config("codec=jpeg", "codec.ops.quality=[5]", "max_images=1", f"results_dir={tmp_path}"), "jpeg")
    assert list(few.summary["images"]) == [1] and few.skipped == 1


def test_ops_of_diffc_gaussian_can_be_set_on_the_command_line():
    for overrides, expected in (([], [12, 14, 16, 18, 20, 22, 24]), (["codec.ops.steps=[14,18]"], [14, 18]),
                                (["codec.num_steps=16"], [12, 14, 16])):
        cfg = config("codec=diffc_gaussian", *overrides)
        codec = build_codec(codec_configs(cfg.codec, "diffc_gaussian")["diffc_gaussian"])
        assert [op["steps"] for op in codec.operating_points()] == expected
