"""A whole run: dataset x codecs -> image tasks (new ones, or stored rows to complete) -> workers -> summary."""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any, Iterator

import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from rdpbench.data.datasets import ImageRef
from rdpbench.device import DevicePolicy
from rdpbench.errors import CodecError, ConfigError
from rdpbench.metrics.base import is_dataset_metric, metric_info
from rdpbench.results.provenance import git_commit, package_versions
from rdpbench.results.store import ResultStore, load_rows, summarize
from rdpbench.runners.dataset_metrics import compute_dataset_metrics
from rdpbench.runners.evaluate import evaluate_image, metric_or_reason, release_original
from rdpbench.runners.tasks import CodecSpec, Completion, ImageTask, RunSettings, TaskOutcome
from rdpbench.runners.workers import run_supervised

log = logging.getLogger("rdpbench")


@dataclass
class RunReport:
    done: int = 0
    completed: int = 0  # images whose stored rows got missing metrics or a verification, from their streams
    skipped: int = 0
    failures: list[str] = field(default_factory=list)
    unavailable_codecs: dict[str, str] = field(default_factory=dict)
    unavailable_metrics: dict[str, str] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()  # this run's metric names
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)  # this run: its dataset, codecs and images
    store_summary: pd.DataFrame = field(default_factory=pd.DataFrame)  # everything in the results store

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0


def _default_ops(config: dict[str, Any]) -> dict[str, Any]:
    """`ops: {knob: null}` in a codec YAML is a placeholder that lets `codec.ops.<knob>=[...]` be
    set on the command line (Hydra cannot add keys under a null node); left null, it means the
    codec's own default list, as `ops: null` does."""
    ops = config.get("ops")
    if isinstance(ops, dict) and ops and all(v is None for v in ops.values()):
        return {**config, "ops": None}
    return config


def codec_configs(codec_cfg: DictConfig, single_label: str) -> dict[str, dict[str, Any]]:
    """A codec config is one adapter (has _target_) or a suite: a mapping of label -> adapter."""
    container = OmegaConf.to_container(codec_cfg, resolve=True)
    if not isinstance(container, dict) or not container:
        raise ConfigError("config `codec` is empty: choose one, e.g. codec=jpeg or codec=classical")
    if "_target_" in container:
        return {single_label: _default_ops(container)}
    bad = [label for label, c in container.items() if not (isinstance(c, dict) and "_target_" in c)]
    if bad:
        raise ConfigError(f"codec suite entries {bad} are not codec configs (no _target_)")
    return {label: _default_ops(c) for label, c in container.items()}


def build_codecs(configs: dict[str, dict[str, Any]], report: RunReport,
                 target_bpp: tuple[float, ...] | None = None) -> list[CodecSpec]:
    specs = []
    for label, config in configs.items():
        spec, codec = CodecSpec.build(label, config, target_bpp)
        try:
            codec.requirements()
        except CodecError as exc:  # e.g. a CLI encoder not installed: skip it, say why
            report.unavailable_codecs[label] = str(exc)
            log.warning("skipping codec %s: %s", label, exc)
            continue
        if not codec.operating_points():
            raise ConfigError(f"codec {label!r} has no operating points: set codec.ops (knobs: "
                              f"{[k.name for k in codec.all_knobs()]})")
        specs.append(spec)
    return specs


def target_rates(value: Any) -> tuple[float, ...] | None:
    """`target_bpp` as positive finite floats; anything else is refused with what to write."""
    if value is None:
        return None
    try:
        targets = tuple(float(t) for t in value)
    except (TypeError, ValueError):
        raise ConfigError(f"target_bpp={value!r}: give a list of rates in bits per pixel, e.g. "
                          f"'target_bpp=[0.01,0.03,0.1]'") from None
    bad = [t for t in targets if not (math.isfinite(t) and t > 0)]
    if not targets or bad:
        raise ConfigError(f"target_bpp: every target must be a positive number of bits per pixel, got "
                          f"{list(targets)}; e.g. 'target_bpp=[0.01,0.03,0.1]'")
    return targets


def _execute(tasks: list[ImageTask], settings: RunSettings, workers: int, threads: int | None,
             timeout: float | None) -> Iterator[TaskOutcome]:
    """workers >= 1: supervised worker processes (a crashed or OOM-killed worker fails only its image);
    workers=0: in this process (for debugging: a crash in native code ends the run)."""
    if workers == 0:
        return (evaluate_image(t, settings) for t in tasks)
    return run_supervised(evaluate_image, tasks, lambda t: (t, settings), workers,
                          lambda t, reason: record_lost_task(t, settings, reason), timeout, threads=threads)


def worker_threads(cfg: DictConfig) -> int | None:
    """`threads`: BLAS/OpenMP/torch threads per worker; null shares the cores out among the workers."""
    value = cfg.get("threads")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"threads={value!r}: give a positive number of threads per worker, or null for "
                          f"cpu_count // workers")
    return value


def record_lost_task(task: ImageTask, settings: RunSettings, reason: str) -> TaskOutcome:
    """A task whose worker died or timed out: its failure is stored like any other, and the run goes on."""
    hint = ("a crash in native code, or the OOM killer (see the system log)" if reason.startswith("worker")
            else "raise task_timeout, or null for no limit")
    message = f"{task.image.path} with codec {task.codec.label!r}: {reason} while evaluating it ({hint})"
    ResultStore(settings.results_dir).write_failure(settings.dataset, task.codec.key, task.image.name, message)
    return TaskOutcome(task, False, message)


def device_policy(cfg: DictConfig) -> DevicePolicy:
    """Resolve `device` once and give every component the result: codec and denoiser configs read it
    through `${device}`, metrics through the runner (their options may not set one)."""
    policy = DevicePolicy.resolve(str(cfg.device))
    options = OmegaConf.to_container(cfg.metrics.options, resolve=True) if "options" in cfg.metrics else {}
    own = sorted(name for name, opts in (options or {}).items() if isinstance(opts, dict) and "device" in opts)
    if own:
        raise ConfigError(f"metrics.options of {own} set a device: metrics run on the run's device={cfg.device}; "
                          f"remove their `device` option")
    cfg.device = policy.name
    return policy


def run(cfg: DictConfig, codec_label: str, dataset_id: str = "") -> RunReport:
    policy = device_policy(cfg)
    slots = tempfile.mkdtemp(prefix="rdpbench-gpu-slots-") if int(cfg.workers) > 1 and len(policy.gpus) > 1 else None
    try:
        return _run(cfg, codec_label, dataset_id, policy, slots)
    finally:
        if slots:
            shutil.rmtree(slots, ignore_errors=True)


def _run(cfg: DictConfig, codec_label: str, dataset_id: str, policy: DevicePolicy, slots: str | None) -> RunReport:
    report = RunReport()
    target_bpp = target_rates(cfg.target_bpp)
    if str(cfg.verify) not in ("none", "isolated"):
        raise ConfigError(f"verify={cfg.verify!r}: choose none or isolated")
    log.info("device=%s: %s%s", cfg.device, policy.activate(0), f", workers take GPUs {policy.gpus} round robin"
             if slots else "")
    dataset = instantiate(cfg.dataset)
    all_images = dataset.images()
    images = all_images[: int(cfg.max_images)] if cfg.max_images else all_images
    specs = build_codecs(codec_configs(cfg.codec, codec_label), report, target_bpp)
    metric_names = tuple(cfg.metrics.names)
    report.metrics = metric_names
    per_image = tuple(n for n in metric_names if not is_dataset_metric(n))
    save = cfg.save_reconstructions
    settings = RunSettings(
        results_dir=str(cfg.results_dir), dataset=dataset.label, dataset_id=dataset_id or dataset.name,
        dataset_size=len(all_images), data_root=str(cfg.data_root), metrics=per_image,
        metric_options=OmegaConf.to_container(cfg.metrics.options, resolve=True) if "options" in cfg.metrics else {},
        target_bpp=target_bpp, verify=str(cfg.verify), save_reconstructions=None if save == "all" else int(save),
        seed=int(cfg.seed), versions=package_versions(), git_commit=git_commit(), max_pixels=int(cfg.max_pixels),
        device=policy, device_slots=slots)
    if int(cfg.workers) < 0:
        raise ConfigError(f"workers={cfg.workers}: choose 0 (in this process) or a number of worker processes")
    store = ResultStore(settings.results_dir)
    for name in metric_names:
        store.write_metric_info(metric_info(name))
    unavailable: dict[str, str] = {}
    tasks = plan(store, specs, images, settings, unavailable, report)
    log.info("%d image tasks to run (%d completed from stored streams), %d already in %s", len(tasks),
             sum(t.complete is not None for t in tasks), report.skipped, settings.results_dir)
    with tqdm(total=len(tasks), unit="img", dynamic_ncols=True) as bar:
        timeout = float(cfg.task_timeout) if cfg.task_timeout else None
        for outcome in _execute(tasks, settings, int(cfg.workers), worker_threads(cfg), timeout):
            # the next update() redraws at tqdm's rate limit: a forced redraw per task cost ~0.5 ms each
            bar.set_postfix_str(f"{outcome.task.codec.label} {outcome.task.image.name}", refresh=False)
            bar.update()
            if not outcome.ok:
                report.failures.append(outcome.message)
                tqdm.write(f"FAILED {outcome.message}")
            elif outcome.task.complete is not None:
                report.completed += 1
            else:
                report.done += 1
    release_original()
    dataset_metric_names = [n for n in metric_names if is_dataset_metric(n)]
    rows = load_rows(settings.results_dir)  # read once: dataset metrics and the summaries share it
    if dataset_metric_names:
        for spec in specs:
            compute_dataset_metrics(store, rows, spec, images, dataset_metric_names, settings)
    mine = this_run(rows, settings.dataset, specs, [i.name for i in images])
    report.summary = summarize(mine)
    report.store_summary = summarize(rows)
    report.unavailable_metrics = unavailable_metrics(mine, per_image, unavailable)
    return report


def plan(store: ResultStore, specs: list[CodecSpec], images: list[ImageRef], settings: RunSettings,
         unavailable: dict[str, str], report: RunReport) -> list[ImageTask]:
    """The image tasks this run needs: new images, and stored ones whose rows lack a requested metric
    (or were measured by another implementation of it) or a requested verification; the rest are
    counted as skipped. Metrics that cannot be built here go to `unavailable` with the reason."""
    implementations = {}  # the implementation of each requested metric is part of what makes rows reusable
    for name in settings.metrics:
        metric = metric_or_reason(name, settings.metric_options.get(name, {}), settings.device.name)
        if isinstance(metric, str):
            unavailable[name] = metric
        else:
            implementations[name] = metric.implementation
    tasks = []
    for index, image in enumerate(images):  # image by image: a worker's codecs share one decoded original
        for spec in specs:
            rows = store.read_rows(settings.dataset, spec.key, image.name)
            completion = Completion.of(rows, implementations, settings.verify) if rows else None
            if rows and not completion:
                report.skipped += 1
            else:
                tasks.append(ImageTask(image, index, spec, completion))
    return tasks


def this_run(rows: pd.DataFrame, dataset: str, specs: list[CodecSpec], images: list[str]) -> pd.DataFrame:
    """The rows of this run's dataset, codec configurations and images (the store may hold more)."""
    if rows.empty:
        return rows
    keys = {(s.label, s.config_hash) for s in specs}
    pairs = pd.Series(list(zip(rows["codec"], rows["config_hash"])), index=rows.index)
    return rows[(rows["dataset"] == dataset) & pairs.isin(keys) & rows["image"].isin(images)]


def unavailable_metrics(rows: pd.DataFrame, names: tuple[str, ...], reasons: dict[str, str]) -> dict[str, str]:
    """Metrics with no value in any of this run's rows, with the reason (the metric could not be built,
    or the first error recorded in the rows), so a run says why columns are empty."""
    out = {}
    for name in names:
        if rows.empty or name not in rows or rows[name].isna().all():
            recorded = [json.loads(e).get(name) for e in rows.get("metric_errors", [])]
            out[name] = reasons.get(name) or next((r for r in recorded if r), "no rows")
    return out
