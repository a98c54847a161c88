"""One device policy per run: `device=auto|cpu|cuda|cuda:N` is resolved here, once, by the runner.

Every torch-backed component (codec, denoiser, RCC backend, metric) receives the run's device as a
plain name and never picks its own: `torch_device` refuses 'auto' so that a component built outside
a run states its device too. What components receive is the device *class* ('cpu', 'cuda', 'mps'):
configs and result hashes then do not depend on which GPU ran an image, and the GPU index is the
process's current CUDA device, which `DevicePolicy.activate` sets:

- `device=cuda` (or auto on a CUDA host) with `workers > 1`: worker k, in the order workers start,
  takes GPU k mod n (round robin; `claim_slot` numbers the workers without any pool support).
  `device=cuda:N` pins every worker to GPU N.
- CUDA runs are made deterministic (cuDNN deterministic, no autotuning, deterministic algorithms
  where torch has them, cuBLAS's fixed workspace), so two decodes of one stream agree and
  `verify=isolated` passes on a GPU.

A `device=cpu` run never initialises CUDA: nothing here asks torch.cuda anything for it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import platform
from dataclasses import dataclass
from typing import Any, Iterator

from rdpbench.errors import ConfigError

CLASSES = ("cpu", "cuda", "mps")
#: cuBLAS is deterministic only with a fixed workspace (torch's reproducibility notes); set before it starts
CUBLAS_WORKSPACE = ":4096:8"


def _mps_available() -> bool:
    import torch

    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


@dataclass(frozen=True)
class DevicePolicy:
    """The run's device class and, for CUDA, the GPU indices its workers rotate over (picklable)."""

    kind: str = "cpu"
    gpus: tuple[int, ...] = ()

    @classmethod
    def resolve(cls, spec: str) -> "DevicePolicy":
        """auto -> cuda (all visible GPUs) if available, else mps, else cpu; cuda:N pins GPU N."""
        spec = str(spec).strip().lower()
        if spec == "cpu":
            return cls("cpu")
        if spec == "mps":
            if not _mps_available():
                raise ConfigError("device=mps but torch reports no MPS device: choose device=cpu or auto")
            return cls("mps")
        import torch

        if spec == "auto":
            if torch.cuda.is_available():
                return cls("cuda", tuple(range(torch.cuda.device_count())))
            return cls("mps") if _mps_available() else cls("cpu")
        kind, _, index = spec.partition(":")
        if kind != "cuda" or (index and not index.isdigit()):
            raise ConfigError(f"device={spec!r}: choose auto, cpu, cuda, cuda:N or mps")
        if not torch.cuda.is_available():
            raise ConfigError(f"device={spec}: torch.cuda.is_available() is False (no GPU, or a CPU-only torch "
                              f"{torch.__version__}); choose device=cpu or device=auto")
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            raise ConfigError(f"device={spec}: only {count} CUDA device(s) visible (0..{count - 1})")
        return cls("cuda", (int(index),) if index else tuple(range(count)))

    @property
    def name(self) -> str:
        """What every component is given: the device class (the GPU is the process's current device)."""
        return self.kind

    def gpu_for(self, slot: int) -> int | None:
        """Worker `slot`'s GPU: round robin over `gpus`."""
        return self.gpus[slot % len(self.gpus)] if self.kind == "cuda" else None

    def activate(self, slot: int = 0) -> str:
        """Make this process run on the slot's device, deterministically; return the concrete device."""
        if self.kind != "cuda":
            return self.kind
        import torch

        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
        gpu = self.gpu_for(slot)
        torch.cuda.set_device(gpu)
        deterministic_cuda()
        return f"cuda:{gpu}"


def deterministic_cuda() -> None:
    """cuDNN deterministic and not autotuned, deterministic torch kernels where they exist (warn elsewhere)."""
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)


def claim_slot(directory: str) -> int:
    """The lowest worker number not yet taken in `directory` (one file per slot, created atomically).

    Works with any process pool (none has to pass a worker index), and a worker started to replace
    a dead one takes the next number, so the rotation goes on.
    """
    for slot in itertools.count():
        try:
            os.close(os.open(os.path.join(directory, str(slot)), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return slot
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def torch_device(device: str, who: str) -> Any:
    """A component's torch.device from the name the run gave it; 'auto' is refused (the run resolves it)."""
    import torch

    if str(device) == "auto":
        raise ConfigError(f"{who}: device='auto' is resolved once per run (run.py device=...), not by a component; "
                          f"pass cpu, cuda, cuda:N or mps (rdpbench.device.DevicePolicy.resolve('auto').name)")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"{who}: device={device!r} is not a torch device ({exc})") from exc


def resolve_dtype(dtype: str, device: Any) -> Any:
    """'auto' -> float16 on CUDA, float32 elsewhere (CPU half precision is slow and inexact)."""
    import torch

    if dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise ConfigError(f"dtype={dtype!r}: choose auto, float16, bfloat16, float32 or float64")
    return getattr(torch, dtype)


def device_name(kind: str) -> str:
    """The hardware behind a device class, for the rows: the GPU model, or the CPU."""
    if kind == "cuda":
        import torch

        return torch.cuda.get_device_name(torch.cuda.current_device())
    return platform.processor() or platform.machine()


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """torch on one CPU thread: results that do not depend on the thread count, and small kernels
    that do not wait on OpenMP barriers of a busy machine."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
