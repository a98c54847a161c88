"""The generative-codec kit through public calls: container, composite streams, tiles, conditioning, oracle."""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import pytest

import sketch_codec
from rdpbench.bitstream import write_varint
from rdpbench.codecs.composite import joined_knobs
from rdpbench.codecs.diffc import DiffC
from rdpbench.codecs.pillow_codecs import JPEG, WebP
from rdpbench.diffusion.conditional_gaussian import ConditionalGaussianDenoiser, ObservationFit
from rdpbench.diffusion.diffc_engine import DiffCSettings
from rdpbench.diffusion.gaussian import GaussianDenoiser
from rdpbench.errors import BitstreamError, ConfigError
from rdpbench.rcc import RCCContainer, RCCSettings, TileSteps
from rdpbench.tiles import TileGrid

SETTINGS = DiffCSettings(seed=5, num_steps=6, t_max=640, t_min=330, rcc=RCCSettings(6.0, 2.0, 9), decode_steps=12)
Sketch = sketch_codec.BaseConditionedDiffC


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


@pytest.fixture(scope="module")
def crop(kodak_image) -> np.ndarray:
    return np.ascontiguousarray(kodak_image[200:248, 300:364])  # 48 x 64


# --- RCC container ----------------------------------------------------------------------------------
def random_tiles(rng: np.random.Generator, container: RCCContainer, dims: list[int], steps: int) -> list[TileSteps]:
    tiles = []
    for dim in dims:
        codes = tuple(int(c) for c in np.cumsum(rng.integers(0, 9, steps)) + 20)
        indices = tuple(rng.integers(0, container.plan(c, dim).n_candidates, container.plan(c, dim).n_chunks)
                        for c in codes)
        tiles.append(TileSteps(codes, indices))
    return tiles


def test_container_round_trip_and_every_prefix_decodes():
    container = RCCContainer(RCCSettings(6.0, 2.0, 9), kl_levels=16, check_bytes=2, codec="test")
    rng = np.random.default_rng(0)
    dims = [300, 120]
    tiles = random_tiles(rng, container, dims, steps=7)
    header = b"\x11\x22"
    for k in (0, 1, 4, 7):
        stream = header + container.pack(header, [t.prefix(k) for t in tiles], dims)
        payload = container.read(container.verified(stream)[len(header):], k, dims)
        assert [t.kl_codes for t in payload.tiles] == [t.kl_codes[:k] for t in tiles]
        assert all(np.array_equal(a, b) for got, want in zip(payload.tiles, tiles)
                   for a, b in zip(got.indices, want.indices[:k]))
        assert sum(payload.sections.values()) == len(stream) - len(header)
        assert payload.sections["check"] == 2 and (k == 0 or payload.sections["side"] > 0)


@pytest.mark.parametrize("where", ["header", "body", "check"])
def test_container_checksum_covers_header_and_names_the_section(where):
    container = RCCContainer(RCCSettings(6.0, 2.0, 9), 16, 1, "test")
    tiles = random_tiles(np.random.default_rng(1), container, [200], steps=5)
    stream = bytearray(b"\x01\x02" + container.pack(b"\x01\x02", tiles, [200]))
    stream[{"header": 0, "body": 4, "check": -1}[where]] ^= 0x04
    with pytest.raises(BitstreamError, match="codec 'test', section 'check'"):
        container.verified(bytes(stream))


def test_container_refuses_out_of_range_side_info_by_section():
    container = RCCContainer(RCCSettings(6.0, 2.0, 9), 16, 0, "test")
    with pytest.raises(BitstreamError, match="section '(side|rcc)'"):
        container.read(b"\xff" * 12, 40, [50])


# --- tiles ------------------------------------------------------------------------------------------
def test_tiles_cover_the_canvas_and_blend_without_seams():
    grid = TileGrid(tile_size=32, overlap=8, multiple=4)
    assert grid.padded(50, 70) == (52, 72)
    boxes = grid.boxes(50, 70)
    covered = np.zeros(grid.padded(50, 70), bool)
    for top, left, h, w in boxes:
        assert top % 4 == 0 and left % 4 == 0 and (h, w) == (32, 32)
        covered[top:top + h, left:left + w] = True
    assert covered.all() and len(boxes) == 6
    image = np.random.default_rng(2).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    padded = grid.pad(image)
    blender = grid.blender(50, 70)
    for top, left, h, w in boxes:
        blender.add((top, left, h, w), padded[top:top + h, left:left + w].astype(np.float32))
    assert np.array_equal(blender.result()[:50, :70], image)  # consistent tiles blend back exactly
    with pytest.raises(ConfigError, match="tile_size"):
        TileGrid(tile_size=16, overlap=8)


def test_each_tile_has_its_own_seed_stream(crop):
    """Two tiles holding the same pixels still draw different noise: the tile index keys the PRNG."""
    twin = np.concatenate([crop[:32, :32], crop[:32, :32]], axis=1)  # 32 x 64, left half == right half
    codec = DiffC(GaussianDenoiser(), seed=5, num_steps=6, t_max=640, t_min=330, chunk_kl_bits=6.0, slack_bits=2.0,
                  max_bits=9, decode_steps=12, tile_size=32, tile_overlap=0)
    parsed = codec.read_stream(codec.encode(twin, {"steps": 6}))
    assert len(parsed.rcc.tiles) == 2
    left, right = parsed.rcc.tiles
    assert any(not np.array_equal(a, b) for a, b in zip(left.indices, right.indices))
    starts = [codec.engine.start((3, 4, 4), tile) for tile in (0, 1)]
    assert not np.allclose(*starts)


# --- composite streams ------------------------------------------------------------------------------
def sketch(base=None, denoiser=None, **kw) -> Sketch:
    return Sketch(base or JPEG(), denoiser or GaussianDenoiser(), SETTINGS, tile_size=48, tile_overlap=8, **kw)


def test_composite_stream_round_trip_and_sections(crop):
    codec = sketch()
    ops = [{"quality": 5, "steps": k} for k in (2, 6)] + [{"quality": 20, "steps": 6}]
    streams = codec.encode_many(crop, ops)
    assert streams == [codec.encode(crop, op) for op in ops]  # one trace per base op serves every step count
    base_alone = JPEG().encode(crop, {"quality": 5})
    for op, stream in zip(ops, streams):
        parts = codec.sections(stream)
        assert set(parts) == {"header", "base", "side", "rcc", "check"} and sum(parts.values()) == len(stream)
        payload = len(base_alone) - JPEG().parse_header(base_alone)[2]
        if op["quality"] == 5:  # the base payload travels as is, behind its codec id and length
            assert parts["base"] == len(write_varint(JPEG.codec_id)) + len(write_varint(payload)) + payload
        recon = codec.decode(stream)
        assert recon.shape == crop.shape and recon.dtype == np.uint8
    assert len(streams[0]) < len(streams[1])
    fresh = sketch()
    assert np.array_equal(fresh.decode(streams[1]), codec.decode(streams[1]))


def test_composite_refuses_a_stream_of_another_base_naming_it(crop):
    stream = sketch(base=WebP()).encode(crop, {"quality": 5, "steps": 3})
    with pytest.raises(BitstreamError, match="section 'base'.*codec 'webp' \\(id 2\\).*'jpeg'"):
        sketch().decode(stream)


@pytest.mark.parametrize("cut", [3, 10, -2])
def test_damaged_composite_streams_name_a_section(crop, cut):
    stream = sketch().encode(crop, {"quality": 5, "steps": 6})
    damaged = bytearray(stream[:cut] if cut > 0 else stream)
    if cut < 0:
        damaged[cut] ^= 0x01
    with pytest.raises(BitstreamError, match="section '(check|base)'|truncated"):
        sketch().decode(bytes(damaged))


def test_knob_names_of_two_layers_must_differ():
    with pytest.raises(ConfigError, match="steps"):
        joined_knobs("x", DiffC(GaussianDenoiser()).all_knobs(), DiffC(GaussianDenoiser()).all_knobs())


def test_the_sketch_codec_is_well_under_100_lines():
    assert len(inspect.getsource(sketch_codec).splitlines()) < 70


# --- the conditional Gaussian oracle -------------------------------------------------------------
def test_conditional_denoiser_equals_dense_linear_algebra():
    """E[x0 | x_t, b] by FFT shrinkage == the joint-Gaussian formula with explicit 90 x 90 covariances."""
    denoiser = GaussianDenoiser()
    model = denoiser.model
    height, width = 6, 5
    rng = np.random.default_rng(7)
    freq = (0.0, 0.1, 0.3, 0.8)
    fit = ObservationFit(freq, tuple(tuple(rng.uniform(0.1, 1.0, 4)) for _ in range(3)),
                         tuple(tuple(rng.uniform(0.001, 0.05, 4)) for _ in range(3)))
    gain, error = fit.grids(height, width)
    f_full = np.sqrt(np.fft.fftfreq(height)[:, None] ** 2 + np.fft.fftfreq(width)[None, :] ** 2)
    gain_full = np.stack([np.interp(f_full, freq, row) for row in fit.gain])
    error_full = np.stack([np.interp(f_full, freq, row) for row in fit.error])
    power_full = model.spectrum(height, width, full=True)

    n = height * width
    dft = np.kron(np.fft.fft(np.eye(height), norm="ortho"), np.fft.fft(np.eye(width), norm="ortho"))

    def operator(diagonals: np.ndarray) -> np.ndarray:  # block-diagonal over PCA channels, in pixel space
        blocks = [np.real(dft.conj().T @ np.diag(d.ravel()) @ dft) for d in diagonals]
        per_channel = np.zeros((3 * n, 3 * n))
        for k, block in enumerate(blocks):
            per_channel[k * n:(k + 1) * n, k * n:(k + 1) * n] = block
        to_y = np.kron(np.asarray(model.colour_basis), np.eye(n))
        return to_y.T @ per_channel @ to_y

    sigma, h_op, r_op = operator(power_full), operator(gain_full), operator(error_full)
    mean = np.repeat(np.asarray(model.mean), n)
    abar = 0.3
    a = np.sqrt(abar)
    x0 = model.sample(height, width, rng).ravel()
    x_t = a * x0 + np.sqrt(1 - abar) * rng.standard_normal(3 * n)
    base = mean + h_op @ (x0 - mean) + np.linalg.cholesky(r_op + 1e-15 * np.eye(3 * n)) @ rng.standard_normal(3 * n)
    c_zz = np.block([[abar * sigma + (1 - abar) * np.eye(3 * n), a * sigma @ h_op.T],
                     [a * h_op @ sigma, h_op @ sigma @ h_op.T + r_op]])
    c_xz = np.hstack([a * sigma, sigma @ h_op.T])
    dense = mean + c_xz @ np.linalg.solve(c_zz, np.concatenate([x_t - a * mean, base - mean]))
    fast = model.conditional_x0(x_t.reshape(3, height, width), abar, base.reshape(3, height, width), gain, error)
    assert np.max(np.abs(fast.ravel() - dense)) < 1e-6
    # and with no information in the base (h = 0) it is the unconditional Wiener estimate
    none = model.conditional_x0(x_t.reshape(3, height, width), abar, base.reshape(3, height, width),
                                np.zeros_like(gain), np.ones_like(error))
    assert np.allclose(none, model.wiener_x0(x_t.reshape(3, height, width), abar), atol=1e-12)


def test_conditioning_on_the_base_lowers_the_per_step_kl(kodak_image, capsys):
    """Same schedule, same crop: DiffC's unconditional prior vs the prior conditioned on ultralow's decode."""
    pytest.importorskip("torch")
    from rdpbench.codecs.trained import UltraLow

    crop = np.ascontiguousarray(kodak_image[160:224, 256:352])  # 64 x 96
    settings = DiffCSettings(seed=0, num_steps=10, t_max=700, t_min=330, rcc=RCCSettings(6.0, 2.0, 10))
    plain = DiffC(GaussianDenoiser(), seed=0, num_steps=10, t_max=700, t_min=330, chunk_kl_bits=6.0, slack_bits=2.0,
                  max_bits=10, tile_size=128, tile_overlap=8)
    conditioned = Sketch(UltraLow(device="cpu"), ConditionalGaussianDenoiser("ultralow"), settings, tile_size=128)
    kl = {}
    for label, codec, op in (("diffc", plain, {"steps": 10}), ("conditioned", conditioned, {"step": 2.0, "steps": 10})):
        trace = codec.trace(crop, op, 10)
        kl[label] = float(np.mean([r.kl_bits for r in itertools.chain(*trace.tiles)]))
    with capsys.disabled():
        print(f"\nmean per-step KL on kodim23[160:224, 256:352], 10 steps t=700..330: unconditional "
              f"{kl['diffc']:.1f} bits, conditioned on ultralow step=2 {kl['conditioned']:.1f} bits")
    assert kl["conditioned"] < 0.8 * kl["diffc"]


def test_missing_observation_fit_names_the_fitted_points(crop):
    denoiser = ConditionalGaussianDenoiser("ultralow")
    from rdpbench.diffusion.conditioning import Condition

    with pytest.raises(ConfigError, match="step=9.0.*fitted.*step=2.0.*fit_observation"):
        denoiser.predict_x0(np.zeros((3, 8, 8)), 500, Condition(base_latent=np.zeros((3, 8, 8)),
                                                                observation="step=9.0"))
    assert denoiser.config()["observation_sha256"] and denoiser.config()["backend"] == "conditional_gaussian"


def test_progressive_is_a_declared_capability():
    assert DiffC.progressive and Sketch.progressive and not JPEG.progressive
