"""The shipped mini-ldm: pinned files, real learned quality, and DiffC on it end to end."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from rdpbench.codecs.diffc import DiffC  # noqa: E402
from rdpbench.diffusion.mini_ldm import MODEL_DIR, SHIPPED_SHA256, MiniLDMDenoiser, iid_gaussian_x0  # noqa: E402
from rdpbench.errors import WeightsError  # noqa: E402
from rdpbench.metrics.pixel import psnr  # noqa: E402
from rdpbench.weights import sha256_of  # noqa: E402

AUTOENCODER_PSNR_FLOOR = 20.0  # dB on a Kodak crop; the trained model is above, random weights far below


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def denoiser() -> MiniLDMDenoiser:
    return MiniLDMDenoiser(device="cpu")


def test_shipped_files_pinned_and_small() -> None:
    assert set(SHIPPED_SHA256) >= {"unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors"}
    for name, digest in SHIPPED_SHA256.items():
        path = MODEL_DIR / name
        assert sha256_of(path) == digest, name
        assert path.stat().st_size < 16 * 2**20
    assert (MODEL_DIR / "model_index.json").is_file() and (MODEL_DIR / "MODEL_CARD.md").is_file()


def test_a_changed_file_is_refused(tmp_path) -> None:
    copy = tmp_path / "mini_ldm"
    shutil.copytree(MODEL_DIR, copy)
    config = copy / "vae" / "config.json"
    config.write_text(config.read_text().replace('"scaling_factor": ', '"scaling_factor": 1'))
    with pytest.raises(WeightsError, match="vae/config.json does not match the pinned SHA-256"):
        _ = MiniLDMDenoiser(model=str(copy), sha256=SHIPPED_SHA256, device="cpu").parts


def test_autoencoder_is_trained(denoiser: MiniLDMDenoiser, small_image: np.ndarray) -> None:
    """The shipped autoencoder reconstructs a Kodak crop above the floor; the same network untrained does not."""
    from diffusers import AutoencoderKL

    trained = psnr(small_image, denoiser.to_image(denoiser.to_latent(small_image)))
    assert trained > AUTOENCODER_PSNR_FLOOR
    parts = denoiser.parts
    shipped = parts.vae
    torch.manual_seed(0)
    parts.vae = AutoencoderKL.from_config(shipped.config).eval()
    try:
        untrained = psnr(small_image, denoiser.to_image(denoiser.to_latent(small_image)))
    finally:
        parts.vae = shipped
    assert untrained < AUTOENCODER_PSNR_FLOOR - 5


def test_unet_prior_beats_iid_gaussian(denoiser: MiniLDMDenoiser, small_image: np.ndarray) -> None:
    """At mid noise the UNet's x0 estimate of a Kodak latent beats the Wiener estimate of an iid prior
    with the latent's own per-channel mean and variance (the best guess without spatial structure)."""
    z = denoiser.to_latent(small_image)
    t = 500
    a = float(denoiser.alphas_cumprod[t])
    x_t = np.sqrt(a) * z + np.sqrt(1 - a) * np.random.default_rng(0).standard_normal(z.shape)
    unet = np.mean((denoiser.predict_x0(x_t, t) - z) ** 2)
    flat = z.reshape(z.shape[0], -1)
    iid = np.mean((iid_gaussian_x0(x_t, a, flat.mean(axis=1), flat.var(axis=1)) - z) ** 2)
    assert unet < 0.5 * iid


def test_diffc_on_mini_ldm_round_trip(denoiser: MiniLDMDenoiser, small_image: np.ndarray) -> None:
    """DiffC with the shipped model: the codec takes mini-ldm's settings, more steps cost more and
    reconstruct better, and the decoder reproduces the encoder's image from the bytes alone."""
    image = np.ascontiguousarray(small_image[:64, :96])
    codec = DiffC(denoiser, ops={"steps": [2, 4]}, num_steps=4, decode_steps=4)
    assert codec.config()["denoiser"]["snapshot_sha256"]
    stream = codec.encode(image, {"steps": 4})
    short = codec.encode(image, {"steps": 2})
    assert len(short) < len(stream)
    decoded = codec.decode(stream)
    assert np.array_equal(decoded, codec.decode(stream))
    assert psnr(image, decoded) > psnr(image, codec.decode(short))
