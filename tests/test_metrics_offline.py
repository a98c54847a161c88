"""Offline behaviour: a missing weight is a WeightsError naming metric, file and how to get it,
raised at construction without touching the network; `make weights` (weights_cli) reports
per metric; importing the metric modules does not import torch."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from rdpbench.errors import WeightsError
from rdpbench.metrics.base import create_metric
from rdpbench.metrics.random_weights import isolated_cache, write_hub_backbones
from rdpbench.weights_cli import learned_metrics, main

EXPECTED_FILES = {
    "lpips": "alexnet-owt-7be5be79.pth",
    "dists": "vgg16-397923af.pth",
    "fid": "weights-inception-2015-12-05-6726825d.pth",
    "kid": "weights-inception-2015-12-05-6726825d.pth",
    "clipsim": "timm/vit_base_patch32_clip_224.openai",
}


@pytest.fixture
def empty_cache(tmp_path):
    with isolated_cache(tmp_path / "cache") as root:
        yield root


def no_network(*_: object) -> None:
    raise AssertionError("offline metric construction tried to open a network connection")


@pytest.mark.parametrize("name", sorted(EXPECTED_FILES))
def test_missing_weight_error_names_metric_file_and_fix(name: str, empty_cache, monkeypatch) -> None:
    learned_metrics()  # registration
    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(WeightsError) as info:
        create_metric(name, device="cpu")
    message = str(info.value)
    assert f"metric '{name}'" in message
    assert EXPECTED_FILES[name] in message
    assert f"python -m rdpbench.weights_cli fetch --metrics {name}" in message
    assert str(empty_cache) in message  # where the file must go


def test_lpips_vgg_names_the_vgg_file(empty_cache) -> None:
    learned_metrics()
    with pytest.raises(WeightsError, match="vgg16-397923af.pth"):
        create_metric("lpips", net="vgg")


def test_weights_cli_offline_reports_each_metric(empty_cache, capsys) -> None:
    write_hub_backbones(("alexnet",))
    assert main(["fetch", "--offline", "--metrics", "lpips", "dists", "psnr"]) == 1
    out = capsys.readouterr().out
    assert f"lpips: ok {empty_cache}" in out
    assert "dists: FAILED" in out and "vgg16-397923af.pth" in out
    assert "psnr: no weights needed" in out
    assert main(["fetch", "--offline", "--metrics", "lpips"]) == 0
    assert main(["fetch", "--offline", "--metrics", "lpips", "--set", "lpips.net=vgg"]) == 1


def test_weights_cli_verify_flags_non_official_files(empty_cache, capsys) -> None:
    write_hub_backbones(("alexnet",))
    assert main(["verify"]) == 1  # random weights do not match the pinned SHA-256 prefix
    out = capsys.readouterr().out
    assert "hash mismatch" in out and "alexnet-owt-7be5be79.pth" in out
    assert "missing" in out and "vgg16-397923af.pth" in out


def test_importing_metric_modules_does_not_import_torch() -> None:
    code = ("import sys, rdpbench.metrics, rdpbench.metrics.lpips_metric, rdpbench.metrics.dists, "
            "rdpbench.metrics.clipsim, rdpbench.metrics.fid, rdpbench.metrics.piq_metrics, rdpbench.weights_cli; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_online_fetch_checks_the_pinned_hash_prefix(tmp_path, monkeypatch) -> None:
    """The download path itself, with a file:// URL standing in for the network."""
    monkeypatch.delenv("HF_HUB_OFFLINE")  # set by tests/conftest.py; this test is about the online path
    from rdpbench.metrics.weight_files import HubFile, ensure_hub_file
    from rdpbench.weights import sha256_of

    source = tmp_path / "source.pth"
    source.write_bytes(b"pretend weights")
    prefix = sha256_of(source)[:8]
    with isolated_cache(tmp_path / "cache", offline=False):
        good = HubFile("good.pth", source.as_uri(), prefix, "test file")
        assert ensure_hub_file(good, "lpips").read_bytes() == b"pretend weights"
        bad = HubFile("bad.pth", source.as_uri(), "00000000" if prefix != "00000000" else "11111111", "test file")
        with pytest.raises(WeightsError, match="failed its SHA-256 check"):
            ensure_hub_file(bad, "lpips")
        assert not bad.path.exists()  # a file failing its hash is never left for the loader
