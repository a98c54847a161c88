from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from PIL import Image

from rdpbench.errors import ConfigError, MetricUnavailable
from rdpbench.metrics import available_metrics, create_metric, metric_direction
from rdpbench.metrics.pixel import MSSSIM, WINDOW, ms_ssim, psnr
from rdpbench.results.store import load_rows
from rdpbench.runners.run import run


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def test_psnr_of_a_known_error():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 16  # MSE = 256 / 48
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 * 48 / 256), abs=1e-12)
    assert psnr(a, a) == float("inf")
    assert psnr(np.full((4, 4, 3), 255, np.uint8), a) == pytest.approx(0.0, abs=1e-12)


def test_ms_ssim_port_matches_pytorch_msssim_in_float64(small_image):
    torch = pytest.importorskip("torch")
    from pytorch_msssim import ms_ssim as reference_ms_ssim

    rng = np.random.default_rng(1)
    noisy = np.clip(small_image + rng.normal(0, 12, small_image.shape), 0, 255).astype(np.uint8)[:181, :203]
    clean = small_image[:181, :203]  # odd sizes exercise the padded pooling
    to_tensor = lambda x: torch.from_numpy(x.copy()).permute(2, 0, 1)[None].double()  # noqa: E731
    expected = reference_ms_ssim(to_tensor(clean), to_tensor(noisy), data_range=255).item()
    assert ms_ssim(clean, noisy) == pytest.approx(expected, abs=1e-7)
    assert 0.5 < expected < 0.99


def test_the_two_implementations_agree_within_1e5(kodak_root):
    """On kodim20 (flat sky) at q=5, where float32 pytorch_msssim (CompressAI's call) is 4.5e-5 off."""
    torch = pytest.importorskip("torch")
    from pytorch_msssim import ms_ssim as library_ms_ssim

    port, library = (create_metric("ms_ssim", implementation=name) for name in ("numpy", "pytorch_msssim"))
    reference = np.asarray(Image.open(kodak_root / "kodak" / "kodim20.png").convert("RGB"))
    bound = port.bind(reference)
    for quality in (5, 55):
        reconstruction = jpeg(reference, quality)
        exact = library(reference, reconstruction)
        assert bound(reconstruction) == pytest.approx(exact, abs=1e-5)
        if quality == 5:
            x, y = (torch.from_numpy(a.transpose(2, 0, 1).copy())[None].float() for a in (reference, reconstruction))
            assert abs(library_ms_ssim(x, y, data_range=255).item() - exact) > 1e-5, "why float64 is used"


def test_pinned_window_is_pytorch_msssims():
    pytest.importorskip("torch")
    from pytorch_msssim.ssim import _fspecial_gauss_1d

    assert np.array_equal(WINDOW, _fspecial_gauss_1d(11, 1.5).flatten().numpy())


def test_a_bound_reference_scores_like_fresh_calls(small_image):
    metric = MSSSIM("numpy")
    bound = metric.bind(small_image)
    low, high = jpeg(small_image, 10), jpeg(small_image, 80)
    first = [bound(low), bound(high), bound(low)]
    assert first[0] == first[2] == metric(small_image, low)  # reused buffers carry nothing over
    assert first[1] == metric(small_image, high) and first[0] < first[1] < 1
    with pytest.raises(ValueError, match="shape mismatch"):
        bound(high[:-1])


def test_ms_ssim_identity_and_small_images(small_image):
    assert ms_ssim(small_image, small_image) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="160"):
        ms_ssim(small_image[:100], small_image[:100])


def test_the_implementation_is_named_in_config_not_guessed(monkeypatch):
    with pytest.raises(ConfigError, match=r"metrics.options.ms_ssim.implementation.*numpy.*pytorch_msssim"):
        create_metric("ms_ssim")
    with pytest.raises(ConfigError, match="'skimage'"):
        create_metric("ms_ssim", implementation="skimage")
    assert "NumPy port of pytorch_msssim 1.0.0" in create_metric("ms_ssim", implementation="numpy").implementation
    monkeypatch.setitem(sys.modules, "pytorch_msssim", None)  # as on an install without it
    with pytest.raises(MetricUnavailable, match="pip install pytorch-msssim==1.0.0"):
        create_metric("ms_ssim", implementation="pytorch_msssim")


def test_library_implementation_names_versions():
    pytest.importorskip("pytorch_msssim")
    description = create_metric("ms_ssim", implementation="pytorch_msssim").implementation
    assert "pytorch_msssim 1.0.0" in description and "float64" in description and "torch " in description


def test_the_port_needs_no_torch(small_image, tmp_path):
    np.save(tmp_path / "a.npy", small_image)
    code = ("import sys, numpy as np; from rdpbench.metrics.pixel import ms_ssim; "
            f"a = np.load({str(tmp_path / 'a.npy')!r}); v = ms_ssim(a, a[::-1].copy()); "
            "assert 'torch' not in sys.modules, 'torch imported'; print(v)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 0 < float(proc.stdout) < 1


def test_registry():
    assert {"psnr", "ms_ssim"} <= set(available_metrics())
    assert metric_direction("psnr") is True and metric_direction("ms_ssim") is True
    with pytest.raises(ConfigError, match="available"):
        create_metric("psnr-hvs-m")


def test_the_chosen_implementation_decides_whether_rows_are_reused(tmp_path):
    """Rows measured with the port are recomputed (from the stored streams) for the library, and back."""
    pytest.importorskip("pytorch_msssim")

    def sweep(implementation: str):
        with initialize_config_dir(config_dir=str(Path(__file__).resolve().parents[1] / "conf"), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[
                "codec=jpeg", "codec.ops.quality=[10]", "max_images=1", f"results_dir={tmp_path}",
                f"metrics.options.ms_ssim.implementation={implementation}"])
        report = run(cfg, "jpeg")
        row = load_rows(tmp_path).iloc[0]
        return (report.done, report.completed, report.skipped), json.loads(row["metric_impl"])["ms_ssim"], row

    counts, port_impl, port_row = sweep("numpy")
    assert counts == (1, 0, 0) and "NumPy port" in port_impl
    assert sweep("numpy")[0] == (0, 0, 1)
    counts, library_impl, library_row = sweep("pytorch_msssim")
    assert counts == (0, 1, 0) and library_impl.startswith("MS-SSIM RGB linear, pytorch_msssim 1.0.0")
    assert library_row["ms_ssim"] == pytest.approx(port_row["ms_ssim"], abs=1e-5)
    assert library_row["psnr"] == port_row["psnr"]
