"""Metrics. Importing registers the weight-free ones; learned metrics register on import of their modules."""

from rdpbench.metrics import pixel  # noqa: F401  (registration)
from rdpbench.metrics.base import (DatasetMetric, Metric, available_metrics, create_metric, is_dataset_metric,
                                   metric_direction, register_metric)

__all__ = ["DatasetMetric", "Metric", "available_metrics", "create_metric", "is_dataset_metric", "metric_direction",
           "register_metric"]
