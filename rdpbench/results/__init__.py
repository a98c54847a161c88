"""Results store and provenance."""

from rdpbench.results.store import ResultStore, load_dataset_metrics, load_failures, load_rows, summarize

__all__ = ["ResultStore", "load_dataset_metrics", "load_failures", "load_rows", "summarize"]
