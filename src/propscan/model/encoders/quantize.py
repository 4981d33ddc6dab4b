"""Quantizing an fp32 encoder graph to int8 with onnxruntime alone (an analysis install has no torch)."""

from __future__ import annotations

import logging
from pathlib import Path

# How the int8 encoder is built (``quantize_int8``); a cached file built by another recipe is rebuilt.
INT8_RECIPE = "ort-folded-qint8-per-channel"


def quantize_int8(fp32: Path, target: Path) -> None:
    """Fold the graph with onnxruntime's own optimizer, then quantize the dense layers' weights to
    int8, per channel.

    onnxruntime's session optimizer folds the exported weight transposes into constants, which
    is what lets ``quantize_dynamic`` find the weight MatMuls; it needs nothing beyond
    onnxruntime (``onnxruntime.transformers``' optimizer imports torch and sympy, which an
    analysis install does not have). Only MatMuls with a weight operand are quantized; the
    attention products of two activations stay in float.
    """
    import onnx
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folded = target.with_name("folded.onnx")
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(folded)
    options.log_severity_level = 3
    onnxruntime.InferenceSession(str(fp32), options, providers=["CPUExecutionProvider"])
    # Its advice to pre-process first is logged on the root logger; the folding above is ours.
    advice = _DropRecords("Please consider to run pre-processing before quantization")
    logging.getLogger().addFilter(advice)
    try:
        quantize_dynamic(
            folded,
            target,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        logging.getLogger().removeFilter(advice)


class _DropRecords(logging.Filter):
    """Drops log records whose message starts with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)
