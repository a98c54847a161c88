"""A whole run: dataset x codecs -> image tasks (skipping finished ones) -> workers -> summary."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Iterator

import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from rdpbench.errors import CodecError, ConfigError
from rdpbench.metrics.base import is_dataset_metric
from rdpbench.results.provenance import git_commit, package_versions
from rdpbench.results.store import ResultStore, load_rows, summarize
from rdpbench.runners.dataset_metrics import compute_dataset_metrics
from rdpbench.runners.evaluate import evaluate_image
from rdpbench.runners.tasks import CodecSpec, ImageTask, RunSettings, TaskOutcome
from rdpbench.runners.workers import run_supervised

log = logging.getLogger("rdpbench")


@dataclass
class RunReport:
    done: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)
    unavailable_codecs: dict[str, str] = field(default_factory=dict)
    unavailable_metrics: dict[str, str] = field(default_factory=dict)
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0


def codec_configs(codec_cfg: DictConfig, single_label: str) -> dict[str, dict[str, Any]]:
    """A codec config is one adapter (has _target_) or a suite: a mapping of label -> adapter."""
    container = OmegaConf.to_container(codec_cfg, resolve=True)
    if not isinstance(container, dict) or not container:
        raise ConfigError("config `codec` is empty: choose one, e.g. codec=jpeg or codec=classical")
    if "_target_" in container:
        return {single_label: container}
    bad = [label for label, c in container.items() if not (isinstance(c, dict) and "_target_" in c)]
    if bad:
        raise ConfigError(f"codec suite entries {bad} are not codec configs (no _target_)")
    return container


def build_codecs(configs: dict[str, dict[str, Any]], report: RunReport) -> list[CodecSpec]:
    specs = []
    for label, config in configs.items():
        spec, codec = CodecSpec.build(label, config)
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


def _execute(tasks: list[ImageTask], settings: RunSettings, workers: int,
             timeout: float | None) -> Iterator[TaskOutcome]:
    """workers >= 1: supervised worker processes (a crashed or OOM-killed worker fails only its image);
    workers=0: in this process (for debugging: a crash in native code ends the run)."""
    if workers == 0:
        return (evaluate_image(t, settings) for t in tasks)
    return run_supervised(evaluate_image, tasks, lambda t: (t, settings), workers,
                          lambda t, reason: record_lost_task(t, settings, reason), timeout)


def record_lost_task(task: ImageTask, settings: RunSettings, reason: str) -> TaskOutcome:
    """A task whose worker died or timed out: its failure is stored like any other, and the run goes on."""
    hint = ("a crash in native code, or the OOM killer (see the system log)" if reason.startswith("worker")
            else "raise task_timeout, or null for no limit")
    message = f"{task.image.path} with codec {task.codec.label!r}: {reason} while evaluating it ({hint})"
    ResultStore(settings.results_dir).write_failure(settings.dataset, task.codec.key, task.image.name, message)
    return TaskOutcome(task, False, message)


def run(cfg: DictConfig, codec_label: str) -> RunReport:
    report = RunReport()
    dataset = instantiate(cfg.dataset)
    images = dataset.images()
    if cfg.max_images:
        images = images[: int(cfg.max_images)]
    specs = build_codecs(codec_configs(cfg.codec, codec_label), report)
    metric_names = tuple(cfg.metrics.names)
    per_image = tuple(n for n in metric_names if not is_dataset_metric(n))
    save = cfg.save_reconstructions
    settings = RunSettings(
        results_dir=str(cfg.results_dir), dataset=dataset.label, metrics=per_image,
        metric_options=OmegaConf.to_container(cfg.metrics.options, resolve=True) if "options" in cfg.metrics else {},
        target_bpp=tuple(float(t) for t in cfg.target_bpp) if cfg.target_bpp else None,
        verify=str(cfg.verify), save_reconstructions=None if save == "all" else int(save), seed=int(cfg.seed),
        versions=package_versions(), git_commit=git_commit(), max_pixels=int(cfg.max_pixels))
    if settings.verify not in ("none", "isolated"):
        raise ConfigError(f"verify={settings.verify!r}: choose none or isolated")
    if int(cfg.workers) < 0:
        raise ConfigError(f"workers={cfg.workers}: choose 0 (in this process) or a number of worker processes")
    store = ResultStore(settings.results_dir)
    tasks = []
    for spec in specs:
        for index, image in enumerate(images):
            if store.has_rows(settings.dataset, spec.key, image.name):
                report.skipped += 1
            else:
                tasks.append(ImageTask(image, index, spec))
    log.info("%d image tasks to run, %d already in %s", len(tasks), report.skipped, settings.results_dir)
    with tqdm(total=len(tasks), unit="img", dynamic_ncols=True) as bar:
        timeout = float(cfg.task_timeout) if cfg.task_timeout else None
        for outcome in _execute(tasks, settings, int(cfg.workers), timeout):
            bar.set_postfix_str(f"{outcome.task.codec.label} {outcome.task.image.name}")
            bar.update()
            if outcome.ok:
                report.done += 1
            else:
                report.failures.append(outcome.message)
                tqdm.write(f"FAILED {outcome.message}")
    dataset_metric_names = [n for n in metric_names if is_dataset_metric(n)]
    rows = load_rows(settings.results_dir)  # read once: dataset metrics and the summary share it
    if dataset_metric_names:
        for spec in specs:
            compute_dataset_metrics(store, rows, spec, images, dataset_metric_names, settings)
    report.summary = summarize(rows)
    report.unavailable_metrics = unavailable_metrics(rows, per_image)
    return report


def unavailable_metrics(rows: pd.DataFrame, names: tuple[str, ...]) -> dict[str, str]:
    """Metrics with no value in any row, and the first recorded reason, so a run says why columns are empty."""
    out = {}
    for name in names:
        if rows.empty or name not in rows or rows[name].isna().all():
            reasons = [json.loads(e).get(name) for e in rows.get("metric_errors", [])]
            out[name] = next((r for r in reasons if r), "no rows")
    return out
