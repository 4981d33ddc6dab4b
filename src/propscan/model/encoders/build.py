"""Building the runnable encoder: the shipped weightless graph filled with verified weights, cached.

The repository ships each encoder's ONNX graph without its weights (``graphs/``, made by
``scripts/export_encoder_graphs.py``); on first use the weights are filled in, optionally
quantized to int8, and the result is cached so later loads only open a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from propscan.errors import ModelError
from propscan.model.encoders.deltas import merged_weights
from propscan.model.encoders.locate import encoder_path
from propscan.model.encoders.quantize import INT8_RECIPE, quantize_int8
from propscan.model.encoders.specs import ENCODERS
from propscan.model.encoders.verify import verify_weights
from propscan.model.integrity import is_built, mark_built
from propscan.settings import get_settings

logger = logging.getLogger(__name__)

GRAPHS = Path(__file__).parent / "graphs"


def onnx_encoder(name: str, *, int8: bool = False, deltas: bytes | None = None) -> Path:
    """Return the encoder as a runnable ONNX file: the shipped graph plus verified weights, plus
    fine-tuned ``deltas`` (safetensors bytes, ``encoders.deltas``) if given; built once per cache."""
    if deltas is None:
        return _built_graph(name, f"{name}.onnx", "model", ENCODERS[name].weights_sha256, None, int8=int8)
    deltas_sha256 = hashlib.sha256(deltas).hexdigest()
    key = f"{ENCODERS[name].weights_sha256} {deltas_sha256}"
    return _built_graph(name, f"{name}.onnx", f"tuned-{deltas_sha256[:16]}", key, deltas, int8=int8)


def onnx_reader(name: str, packed: bytes, *, int8: bool = False) -> Path:
    """Return a fine-tuned encoder as a runnable ONNX file: the shipped pair graph (segment ids in,
    last layer out) filled with the verified weights plus the deltas ``packed`` (safetensors
    bytes, ``encoders.deltas``), optionally quantized to int8, built once per cache and deltas."""
    deltas_sha256 = hashlib.sha256(packed).hexdigest()
    key = f"{ENCODERS[name].weights_sha256} {deltas_sha256}"
    return _built_graph(name, f"{name}-pair.onnx", f"reader-{deltas_sha256[:16]}", key, packed, int8=int8)


def _built_graph(name: str, graph: str, stem: str, key: str, deltas: bytes | None, *, int8: bool) -> Path:
    """The shipped ``graph`` filled with encoder ``name``'s weights (plus ``deltas``), cached as
    ``stem``.onnx and, with ``int8``, quantized as ``stem``-int8.onnx; each built once per ``key``."""
    folder = get_settings().cache_dir / "encoders" / f"{name}-onnx"

    def fp32() -> Path:
        return built_once(folder / f"{stem}.onnx", key, lambda path: _fill_graph(name, graph, path, deltas=deltas))

    if not int8:
        return fp32()
    # The recipe is part of the key: states of an int8 file built another way would not match the heads.
    return built_once(folder / f"{stem}-int8.onnx", f"{key} {INT8_RECIPE}", lambda path: quantize_int8(fp32(), path))


def built_once(path: Path, key: str, build: Callable[[Path], None]) -> Path:
    """Build ``path`` unless it was built from this key (weights, recipe) and is unchanged; never leave half a file."""
    if is_built(path, key):
        return path
    logger.info("building %s (once)", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        partial = Path(scratch) / path.name
        build(partial)
        partial.replace(path)
    mark_built(path, key)
    return path


def _fill_graph(name: str, graph: str, target: Path, *, deltas: bytes | None = None) -> None:
    """Save the shipped weightless ``graph`` filled with the verified weights of encoder ``name``,
    plus fine-tuned ``deltas`` (``encoders.deltas``, as safetensors bytes) if given."""
    import onnx
    from safetensors.numpy import load, load_file

    folder = encoder_path(name)
    verify_weights(folder / "model.safetensors", ENCODERS[name])
    weights = load_file(str(folder / "model.safetensors"))
    if deltas is not None:
        weights = merged_weights(weights, load(deltas))
    onnx.save(fill_weights(onnx.load(str(GRAPHS / graph)), weights, folder), str(target))


def fill_weights(graph: Any, weights: Mapping[str, np.ndarray], source: Path) -> Any:
    """Put ``weights`` (read from ``source``) into a shipped weightless graph (an ``onnx.ModelProto``).

    Raises:
        ModelError: if the graph was made for other weights or a weight is missing.
    """
    from onnx import numpy_helper

    meta = {p.key: p.value for p in graph.metadata_props}
    if "propscan.weights" not in meta:
        raise ModelError("this ONNX graph was not exported by scripts/export_encoder_graphs.py")
    for key in json.loads(meta["propscan.weights"]):
        if key not in weights:
            raise ModelError(f"{source / 'model.safetensors'} lacks the weight {key!r} the graph needs")
        graph.graph.initializer.append(numpy_helper.from_array(weights[key], key))
    return graph
