"""Batch analysis of corpora into the store: local processes or a Ray cluster, resumable.

Needs the ``batch`` extra; ``--engine ray`` also needs the ``ray`` extra (imported only then).
"""

from propscan.batch.jobs.engines import ENGINES, AnalyzerSpec, Outcome, analyze_batch, make_engine
from propscan.batch.jobs.runner import BatchSummary, ProgressSink, run_batch

__all__ = [
    "ENGINES",
    "AnalyzerSpec",
    "BatchSummary",
    "Outcome",
    "ProgressSink",
    "analyze_batch",
    "make_engine",
    "run_batch",
]
