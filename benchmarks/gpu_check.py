"""The GPU checks of issue 14 in one script: run it once on a GPU host, keep its log and JSON.

On the offline GPU host (../shared/device/README.md), from the project root with .device/ along
(made here by ../shared/device/wheels.sh; EXTRA_WHEELS="pkg==x.y" adds what the runner needs beyond its
list), in one command of ~6 minutes:
    source .device/prelude.sh && python benchmarks/gpu_check.py --out $OUT/gpu.json 2>&1 | tee $OUT/gpu.log
Dry run on a CPU (small models, same code paths): python benchmarks/gpu_check.py --device cpu --small --out gpu_check_dry_run.json

What it measures (each figure next to the issue's target):
1. pytest of the CUDA tests (tests that skip on a CPU: torch-cuda RCC streams, CUDA->CPU portability).
2. RCC: torch-cuda candidate-dims/s on an SD-sized step (24576 dims, 1200 bits, 2^14 candidates
   per chunk) against torch.randn's normals/s on the same GPU (target >= 0.8x).
3. DiffC with a Stable Diffusion 1.5-sized UNet + VAE (random weights, the real architecture, a local
   snapshot made here), one 768x512 Kodak image, fp16, rcc_backend=torch: encode of all 8 points
   (target <= 5 s and <= 1.5x its UNet calls), decode of each point (target <= 1.2x its own UNet
   calls), a second decode identical, a fresh-process decode bit-exact.
4. `run.py codec=ultralow dataset=kodak max_images=4 device=cuda verify=isolated` passes, and every
   CUDA-encoded stream decodes on the CPU to identical latents (largest pixel difference reported).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def synced(device: str) -> Callable[[], None]:
    import torch

    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def best_of(fn: Callable[[], Any], sync: Callable[[], None], repeats: int = 5) -> float:
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def run_pytest() -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "tests/test_rcc_backends.py",
                           "tests/test_learned_portable.py", "-k", "cuda", "-p", "no:cacheprovider"],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    tail = done.stdout.strip().splitlines()[-6:]
    print("pytest (CUDA tests):", *tail, sep="\n  ")
    return {"returncode": done.returncode, "tail": tail}


def rcc_rate(device: str, small: bool) -> dict[str, Any]:
    import torch

    from rdpbench.rcc import ChunkPlan, RCCSettings, backend_for

    sync = synced(device)
    n = 1 << (22 if small else 28)
    randn = n / best_of(lambda: torch.randn(n, device=device), sync)
    dim, kl = (4096, 200.0) if small else (24576, 1200.0)
    plan = ChunkPlan.for_kl(kl, dim, RCCSettings(12, 2, 16))
    m = np.full(dim, np.sqrt(kl * 2 * np.log(2) / dim), dtype=np.float32)
    backend = backend_for("torch", device)
    encode = best_of(lambda: backend.encode_sample(m, plan, (0, 0, 1)), sync)
    work = plan.n_candidates * dim
    out = {"randn_normals_per_s": randn, "plan": str(plan), "encode_s": encode,
           "rcc_candidate_dims_per_s": work / encode, "ratio_to_randn": work / encode / randn, "target_ratio": 0.8}
    if device.startswith("cuda"):  # the fused Triton kernel alone (the CPU backend has none)
        from rdpbench.rcc.philox_kernels import scores

        width = -(-dim // plan.n_chunks)
        means, keys = np.tile(m[:width], (plan.n_chunks, 1)), list(range(1, plan.n_chunks + 1))
        kernel = best_of(lambda: scores(means, [width] * plan.n_chunks, plan.n_candidates, keys, keys, device), sync)
        out.update(kernel_s=kernel, kernel_candidate_dims_per_s=work / kernel)
    print(f"RCC [{backend.name}] {plan}: {work / encode / 1e9:.2f} G candidate-dims/s end to end "
          f"({out.get('kernel_candidate_dims_per_s', float('nan')) / 1e9:.1f} G/s kernel alone); torch.randn "
          f"{randn / 1e9:.2f} G normals/s; ratio {out['ratio_to_randn']:.2f} (target >= 0.8)")
    return out


def write_sd_snapshot(root: Path, small: bool) -> None:
    """Stable Diffusion 1.5's UNet/VAE/text-encoder architecture with random weights (seed 0), fp16."""
    import torch
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    if small:
        unet = UNet2DConditionModel(sample_size=8, layers_per_block=1, block_out_channels=(32, 32),
                                    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                                    attention_head_dim=4, norm_num_groups=8)
        vae = AutoencoderKL(block_out_channels=(8, 16, 16, 16), down_block_types=("DownEncoderBlock2D",) * 4,
                            up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, norm_num_groups=8)
        text = CLIPTextConfig(vocab_size=16, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                              num_attention_heads=2, max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                              pad_token_id=1)
    else:  # SD 1.5: UNet2DConditionModel's defaults with 768-d text states; the SD VAE; CLIP ViT-L/14 text
        unet = UNet2DConditionModel(cross_attention_dim=768)
        vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                            up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4,
                            sample_size=512)
        text = CLIPTextConfig(vocab_size=16, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                              num_attention_heads=12, max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                              pad_token_id=1)
    unet.half().save_pretrained(root / "unet")
    vae.half().save_pretrained(root / "vae")
    CLIPTextModel(text).half().save_pretrained(root / "text_encoder")
    DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                  prediction_type="epsilon").save_pretrained(root / "scheduler")
    vocab = ["<|startoftext|>", "<|endoftext|>", "a</w>", "a"]  # prompts are empty: the vocabulary is moot
    (root / "tok").mkdir()
    (root / "tok" / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (root / "tok" / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(str(root / "tok" / "vocab.json"), str(root / "tok" / "merges.txt"),
                  model_max_length=77).save_pretrained(root / "tokenizer")
    (root / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))


class Timed:
    """Wraps a method: seconds spent in it (device synchronised) and calls, reset per measurement."""

    def __init__(self, obj: Any, name: str, sync: Callable[[], None]) -> None:
        self.inner, self.sync, self.seconds, self.calls = getattr(obj, name), sync, 0.0, 0
        setattr(obj, name, self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.sync()
        start = time.perf_counter()
        out = self.inner(*args, **kwargs)
        self.sync()
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out

    def take(self) -> tuple[float, int]:
        out, self.seconds, self.calls = (self.seconds, self.calls), 0.0, 0
        return out


def diffc_sd(device: str, small: bool, image: np.ndarray) -> dict[str, Any]:
    from rdpbench.codecs.diffc import DiffC
    from rdpbench.diffusion.diffusers_backend import DiffusersDenoiser
    from rdpbench.runners.isolated import decode_in_fresh_process

    sync = synced(device)
    snapshot = Path(tempfile.mkdtemp(prefix="sd15-random-"))
    start = time.perf_counter()
    write_sd_snapshot(snapshot, small)
    dtype = "float16" if device.startswith("cuda") else "float32"
    config = {"_target_": "rdpbench.codecs.diffc.DiffC", "rcc_backend": "torch", "device": device,
              "denoiser": {"_target_": "rdpbench.diffusion.diffusers_backend.DiffusersDenoiser",
                           "model": str(snapshot), "device": device, "dtype": dtype}}
    if small:
        config.update(num_steps=8, decode_steps=8, ops={"steps": [2, 4, 8]})
    denoiser = DiffusersDenoiser(model=str(snapshot), device=device, dtype=dtype)
    codec = DiffC(denoiser, **{k: v for k, v in config.items() if k not in ("_target_", "denoiser")})
    denoiser.requirements()  # load the snapshot
    setup = time.perf_counter() - start
    unet, vae = Timed(denoiser, "predict_x0", sync), Timed(denoiser, "to_latent", sync)
    vae_out = Timed(denoiser, "to_image", sync)
    ops = codec.operating_points()
    codec.encode_many(image[:64, :64].copy(), ops[:1])  # warm-up: cuDNN plans, Triton compiles
    unet.take(), vae.take(), vae_out.take()
    sync()
    start = time.perf_counter()
    streams = codec.encode_many(image, ops)
    sync()
    encode_s = time.perf_counter() - start
    encode_unet_s, encode_calls = unet.take()
    vae.take()
    print(f"DiffC SD1.5-sized random ({dtype}, {image.shape[1]}x{image.shape[0]}, rcc {codec.rcc.name}): encode "
          f"of {len(ops)} points {encode_s:.2f} s, its {encode_calls} UNet calls {encode_unet_s:.2f} s: "
          f"{encode_s / encode_unet_s:.2f}x (targets <= 5 s, <= 1.5x)")
    points = []
    for op, stream in zip(ops, streams):
        start = time.perf_counter()
        decoded = codec.decode(stream)
        sync()
        decode_s = time.perf_counter() - start
        unet_s, calls = unet.take()
        vae_s, _ = vae_out.take()
        again = np.array_equal(codec.decode(stream), decoded)
        unet.take(), vae_out.take()
        points.append({"steps": op["steps"], "bytes": len(stream), "bpp": 8 * len(stream) / image[..., 0].size,
                       "decode_s": decode_s, "unet_s": unet_s, "unet_calls": calls, "vae_decode_s": vae_s,
                       "ratio_to_unet": decode_s / unet_s, "second_decode_identical": again})
        print(f"  steps={op['steps']:2d}: {len(stream)} bytes, decode {decode_s:.2f} s, its {calls} UNet calls "
              f"{unet_s:.2f} s: {decode_s / unet_s:.2f}x (target <= 1.2x), VAE {vae_s:.3f} s, "
              f"second decode identical: {again}")
    fresh = decode_in_fresh_process(config, streams[-1], device="cuda:0" if device.startswith("cuda") else "cpu")
    fresh_exact = bool(np.array_equal(fresh, codec.decode(streams[-1])))
    print(f"  fresh-process decode of steps={ops[-1]['steps']} bit-exact: {fresh_exact}")
    return {"setup_s": setup, "dtype": dtype, "encode_s": encode_s, "encode_unet_s": encode_unet_s,
            "encode_unet_calls": encode_calls, "encode_ratio_to_unet": encode_s / encode_unet_s,
            "targets": {"encode_s": 5.0, "encode_ratio": 1.5, "decode_ratio": 1.2}, "points": points,
            "fresh_process_bit_exact": fresh_exact, "config": codec.config()}


def ultralow_run(device: str, results: Path) -> dict[str, Any]:
    import torch

    from rdpbench.codecs.trained import UltraLow
    from rdpbench.results.store import load_rows

    command = [sys.executable, "run.py", "codec=ultralow", "dataset=kodak", "max_images=4", f"device={device}",
               "verify=isolated", f"results_dir={results}", "save_reconstructions=0"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {"command": " ".join(command[1:]), "returncode": done.returncode, "seconds": seconds}
    if done.returncode != 0:
        out["stderr_tail"] = done.stderr[-3000:]
        print(f"ultralow run FAILED (exit {done.returncode}):\n{done.stderr[-3000:]}")
        return out
    rows = load_rows(results)
    here, cpu = UltraLow(device=device), UltraLow(device="cpu")
    identical, largest = 0, 0
    for row in rows.itertuples():
        stream = (results / row.stream_path).read_bytes()
        a, b = here.decode_latents(stream), cpu.decode_latents(stream)
        same = all(torch.equal(getattr(a, f), getattr(b, f)) for f in ("z_hat", "indexes", "means", "y_hat"))
        identical += same
        largest = max(largest, int(np.abs(here.decode(stream).astype(int) - cpu.decode(stream).astype(int)).max()))
    out.update(streams=len(rows), verified=sorted(set(rows["verified"])), devices=sorted(set(rows["device"])),
               identical_latents_on_cpu=identical, largest_pixel_difference_cpu_vs_device=largest)
    print(f"ultralow run on {device} with verify=isolated: exit 0 in {seconds:.0f} s, {len(rows)} streams "
          f"({out['verified']}, rows say {out['devices']}); {identical}/{len(rows)} decode on the CPU to identical "
          f"latents; largest pixel difference CPU vs {device} synthesis: {largest}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (the checks) or cpu (a dry run)")
    parser.add_argument("--small", action="store_true", help="tiny diffusion models (CPU dry run)")
    parser.add_argument("--image", default="kodim01", help="a 768x512 Kodak image")
    parser.add_argument("--skip", nargs="*", default=[], choices=["pytest", "rcc", "diffc", "ultralow"])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "gpu.json")
    args = parser.parse_args()

    import importlib.metadata

    import torch

    from rdpbench.data.images import load_image
    from rdpbench.device import DevicePolicy, device_name
    from rdpbench.paths import datasets_dir

    policy = DevicePolicy.resolve(args.device)
    device = policy.activate(0)  # deterministic CUDA, as the runner sets it
    result: dict[str, Any] = {"device": device, "device_name": device_name(policy.kind), "torch": torch.__version__,
                              "triton": importlib.metadata.version("triton"), "python": platform.python_version(),
                              "load_average_start": os.getloadavg()}
    print(json.dumps(result))
    if "pytest" not in args.skip:
        result["pytest"] = run_pytest()
    if "rcc" not in args.skip:
        result["rcc"] = rcc_rate(device, args.small)
    if "diffc" not in args.skip:
        image = load_image(datasets_dir() / "kodak" / f"{args.image}.png")[0]
        result["diffc_sd15_random"] = {"image": args.image, **diffc_sd(device, args.small, image)}
    if "ultralow" not in args.skip:
        result["ultralow"] = ultralow_run(policy.kind, Path(tempfile.mkdtemp(prefix="ultralow-gpu-")))
    result["load_average_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
