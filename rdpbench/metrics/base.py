"""Metric contract and registry (modelled on pyiqa's create_metric).

Every metric names its one pinned implementation (`implementation`), e.g.
"LPIPS AlexNet v0.1 (lpips 0.1.4)"; the runner writes that string into every row.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, ClassVar

import numpy as np

from rdpbench.errors import ConfigError

Scorer = Callable[[np.ndarray], float]  # scores reconstructions against one bound reference


class _MetricInfo(ABC):
    name: ClassVar[str]
    higher_is_better: ClassVar[bool]
    label: ClassVar[str | None] = None  # how reports name it; None: the registry name, e.g. ms_ssim -> MS-SSIM
    unit: ClassVar[str] = ""  # e.g. "dB"; empty for unitless scores

    @property
    @abstractmethod
    def implementation(self) -> str:
        """Library, variant and version: what a reader needs to reproduce the number."""


class Metric(_MetricInfo):
    """A full-reference per-image metric on 8-bit RGB HxWx3 arrays."""

    @abstractmethod
    def __call__(self, reference: np.ndarray, reconstruction: np.ndarray) -> float:
        ...

    def bind(self, reference: np.ndarray) -> Scorer:
        """A scorer of reconstructions against `reference`.

        The runner scores every operating point of an image against the same reference, so
        metrics with reference-only work (MS-SSIM's reference statistics) override this to
        do it once per image; it may raise what __call__ raises for a bad reference."""
        return partial(self.__call__, reference)


class DatasetMetric(_MetricInfo):
    """A metric over a whole set of (reference, reconstruction) pairs, e.g. FID/KID.

    `compute` returns (value, reason); value None means 'not computable here' and the
    reason says why (e.g. too few patches), so the column stays empty, honestly.
    """

    @abstractmethod
    def reset(self) -> None:
        ...

    @abstractmethod
    def update(self, reference: np.ndarray, reconstruction: np.ndarray) -> None:
        ...

    @abstractmethod
    def compute(self) -> tuple[float | None, str]:
        ...


_REGISTRY: dict[str, Callable[..., Metric | DatasetMetric]] = {}


def register_metric(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorator(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise RuntimeError(f"metric {name!r} registered twice")
        _REGISTRY[name] = factory
        return factory

    return decorator


def available_metrics() -> list[str]:
    return sorted(_REGISTRY)


def takes_device(name: str) -> bool:
    """Whether a metric runs on a torch device (and so is given the run's)."""
    return "device" in inspect.signature(_factory(name)).parameters


def create_metric(name: str, device: str | None = None, **options: Any) -> Metric | DatasetMetric:
    """Build a metric by registry name; unknown names list what exists.

    `device` is the run's device: metrics that run on one receive it, the others ignore it.
    """
    factory = _factory(name)
    if device is not None and takes_device(name):
        options["device"] = device
    return factory(**options)


def _factory(name: str) -> Callable[..., Metric | DatasetMetric]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown metric {name!r}; available: {available_metrics()}") from None


def metric_direction(name: str) -> bool:
    """True when higher is better; reports use it to orient BD-rates."""
    return bool(_factory(name).higher_is_better)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class MetricInfo:
    """What a report needs to know about a metric column. The runner writes it into the results
    store, so reports never import metric modules (which may need torch) or keep tables of their own."""

    name: str
    label: str
    unit: str
    higher_is_better: bool
    dataset_level: bool

    @property
    def better(self) -> str:
        return "higher" if self.higher_is_better else "lower"

    def axis_label(self) -> str:
        unit = f" ({self.unit})" if self.unit else ""
        return f"{self.label}{unit}, {self.better} is better"


def metric_info(name: str) -> MetricInfo:
    """The registered metric's description, read off its class (nothing is built or downloaded)."""
    factory = _REGISTRY.get(name)
    if factory is None:
        raise ConfigError(f"unknown metric {name!r}; available: {available_metrics()}")
    label = getattr(factory, "label", None) or name.upper().replace("_", "-")
    return MetricInfo(name, label, getattr(factory, "unit", ""), metric_direction(name), is_dataset_metric(name))


def is_dataset_metric(name: str) -> bool:
    """Dataset-level metrics (FID/KID) are computed after all images, from the stored streams."""
    factory = _factory(name)
    return isinstance(factory, type) and issubclass(factory, DatasetMetric)
