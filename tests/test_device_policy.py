"""One device policy: resolved once by the runner, received by every codec, denoiser and metric.

A CPU-only machine can still check the CUDA branches: torch.cuda's queries are replaced by fakes
that say "two GPUs", and recorders stand in for set_device and the determinism switches.
"""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

import rdpbench.runners.evaluate as evaluate
from rdpbench.codecs.trained import UltraLow
from rdpbench.device import DevicePolicy, claim_slot
from rdpbench.errors import ConfigError
from rdpbench.metrics.base import create_metric, takes_device
from rdpbench.results.store import load_rows
from rdpbench.runners.run import device_policy, run

REPO = Path(__file__).resolve().parents[1]


def config(*overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """torch.cuda says two GPUs; set_device and the determinism switches are recorded, not applied."""
    calls: dict[str, list] = {"set_device": [], "deterministic": []}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", calls["set_device"].append)
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda on, warn_only=False:
                        calls["deterministic"].append((on, warn_only)))
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    return calls


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any question to torch.cuda fails the test: what a device=cpu run must never ask."""
    def touched(*_, **__):
        raise AssertionError("a device=cpu run touched torch.cuda")

    for name in ("is_available", "device_count", "set_device", "current_device", "get_device_name", "init",
                 "synchronize"):
        monkeypatch.setattr(torch.cuda, name, touched)


def test_resolution(two_gpus, monkeypatch):
    assert DevicePolicy.resolve("cuda") == DevicePolicy("cuda", (0, 1))
    assert DevicePolicy.resolve("cuda:1") == DevicePolicy("cuda", (1,))
    assert DevicePolicy.resolve("auto") == DevicePolicy("cuda", (0, 1))
    assert DevicePolicy.resolve("CPU") == DevicePolicy("cpu")
    with pytest.raises(ConfigError, match="only 2 CUDA device"):
        DevicePolicy.resolve("cuda:2")
    with pytest.raises(ConfigError, match="choose auto, cpu"):
        DevicePolicy.resolve("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="is_available.. is False"):
        DevicePolicy.resolve("cuda")
    if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        assert DevicePolicy.resolve("auto") == DevicePolicy("cpu")


def test_activate_sets_the_gpu_and_deterministic_cuda(two_gpus):
    policy = DevicePolicy.resolve("cuda")
    assert [policy.activate(slot) for slot in range(3)] == ["cuda:0", "cuda:1", "cuda:0"]
    assert two_gpus["set_device"] == [0, 1, 0]
    assert two_gpus["deterministic"][-1] == (True, True)
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    import os

    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert DevicePolicy.resolve("cuda:1").activate(5) == "cuda:1"  # a pinned GPU is every worker's


def test_workers_take_gpus_round_robin(tmp_path):
    """Worker processes (spawned, as a pool starts them) each claim a slot; slot k takes GPU k mod n."""
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        slots = sorted(pool.map(claim_slot, [str(tmp_path)] * 3, chunksize=1))
    assert slots == [0, 1, 2]
    assert claim_slot(str(tmp_path)) == 3  # a replacement worker continues the rotation
    policy = DevicePolicy("cuda", (0, 1))
    assert [policy.gpu_for(s) for s in slots] == [0, 1, 0]
    assert DevicePolicy("cpu").gpu_for(1) is None


def test_runner_hands_its_device_to_codec_configs_and_refuses_metric_devices(no_cuda, monkeypatch):
    cfg = config("codec=ultralow", "device=cpu")
    assert device_policy(cfg) == DevicePolicy("cpu") and cfg.codec.device == "cpu"
    sd = config("codec=diffc", "device=cpu")
    device_policy(sd)
    assert sd.codec.device == "cpu" and sd.codec.denoiser.device == "cpu"
    with pytest.raises(ConfigError, match=r"\['lpips'\] set a device"):
        device_policy(config("metrics=perceptual", "device=cpu", "+metrics.options.lpips.device=cuda"))


def test_components_do_not_pick_their_own_device():
    from rdpbench.diffusion.diffusers_backend import DiffusersDenoiser

    for build in (lambda: UltraLow(device="auto"), lambda: DiffusersDenoiser(model="x", device="auto"),
                  lambda: create_metric("gmsd", device="auto")):
        with pytest.raises(ConfigError, match="resolved once per run"):
            build()
    assert UltraLow().device.type == "cpu" and create_metric("gmsd").device.type == "cpu"
    assert takes_device("lpips") and takes_device("fid") and not takes_device("psnr")


def test_a_cpu_run_never_touches_cuda_and_rows_record_device_and_dtype(tmp_path, no_cuda, monkeypatch):
    """codec=ultralow (torch) and a torch metric under device=cpu: every metric is built with the run's
    device, nothing asks torch.cuda, and each row says where and in what precision it was computed."""
    made: list[tuple[str, str | None]] = []

    def recording(name, device=None, **options):
        made.append((name, device))
        return create_metric(name, device=device, **options)

    monkeypatch.setattr(evaluate, "create_metric", recording)
    evaluate._METRICS.clear()
    report = run(config("codec=ultralow", "codec.ops.step=[4.0]", "device=cpu", "max_images=1",
                        "metrics.names=[psnr,gmsd]", f"results_dir={tmp_path}"), "ultralow")
    assert report.exit_code == 0 and report.done == 1, report.failures
    assert sorted(made) == [("gmsd", "cpu"), ("psnr", "cpu")]  # psnr ignores it (takes_device is False)
    row = load_rows(tmp_path).iloc[0]
    assert (row.device, row.compute_dtype, row.metric_device) == ("cpu", "float32", "cpu")
    assert row.device_name and json.loads(row.codec_config)["device"] == "cpu"
    assert not torch.cuda.is_initialized()


def test_rows_of_numpy_codecs_say_so(tmp_path):
    report = run(config("codec=diffc_gaussian", "codec.num_steps=2", "codec.ops={steps:[1]}", "codec.tile_size=64",
                        "codec.tile_overlap=8", "codec.decode_steps=2", "device=cpu", "max_images=1",
                        f"results_dir={tmp_path}"), "diffc_gaussian")
    assert report.exit_code == 0, report.failures
    row = load_rows(tmp_path).iloc[0]
    assert (row.device, row.compute_dtype) == ("cpu", "float64")
    assert json.loads(row.codec_config)["rcc_backend"] == "torch-cpu"  # the config default, on the run's device


def test_a_worker_claims_its_gpu_once(two_gpus, tmp_path):
    from rdpbench.runners.tasks import RunSettings

    settings = RunSettings(str(tmp_path / "results"), "sample", "sample", 4, str(tmp_path), (), {}, None, "none", 0, 0,
                           device=DevicePolicy("cuda", (0, 1)), device_slots=str(tmp_path))
    (tmp_path / "0").touch()  # another worker started first and took GPU 0
    assert evaluate.process_device(settings) == "cuda:1"
    assert evaluate.process_device(settings) == "cuda:1"
    assert two_gpus["set_device"] == [1] and sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["0", "1"]
