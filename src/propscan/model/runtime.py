"""onnxruntime sessions, configured in one place: threads, spinning, logging."""

from __future__ import annotations

from pathlib import Path

import onnxruntime


def inference_session(model: str | Path | bytes, *, threads: int) -> onnxruntime.InferenceSession:
    """A CPU session that uses ``threads`` cores for one call at a time.

    Idle worker threads do not spin: between model calls the Python side (tokenizing, span
    features, decoding) and the encoder working ahead need the cores, and batch jobs run several
    analyzers side by side (spinning made ``fast`` 20% slower; README, Benchmarks).
    """
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model if isinstance(model, bytes) else str(model)
    return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
