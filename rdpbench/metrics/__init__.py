"""Metrics. Importing registers the weight-free ones; none imports torch until used."""

from rdpbench.metrics import clipsim, dists, fid, lpips_metric, piq_metrics, pixel, realism  # noqa: F401  (registration)
from rdpbench.metrics.base import (DatasetMetric, Metric, MetricInfo, available_metrics, create_metric,
                                   is_dataset_metric, metric_direction, metric_info, register_metric)

__all__ = ["DatasetMetric", "Metric", "MetricInfo", "available_metrics", "create_metric", "is_dataset_metric",
           "metric_direction", "metric_info", "register_metric"]
