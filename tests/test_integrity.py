"""Model integrity (D12): every file a model is made of is hashed when written and checked when read."""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from propscan.errors import ModelError
from propscan.model import encoders
from propscan.model.encoders import build
from propscan.model.encoders.verify import verify_weights
from propscan.model.integrity import MANIFEST, is_built, mark_built, write_manifest
from propscan.model.propaganda import ENCODER_FILE, MODEL_FILES, PropagandaModel
from propscan.model.span_reader import READER_FILE
from propscan.pipeline import model_path


@pytest.fixture
def fast_copy(tmp_path) -> Path:
    """A copy of the shipped fast model to tamper with, holding its own copy of the span reader it borrows from
    accurate so that every model file is in one folder (loading it builds the heads and the reader, not the
    encoder)."""
    folder = tmp_path / "fast"
    shutil.copytree(model_path("fast"), folder)
    config = json.loads((folder / "config.json").read_text())
    shutil.copyfile(model_path(config.pop("reader_from")) / READER_FILE, folder / READER_FILE)
    (folder / "config.json").write_text(json.dumps(config))
    write_manifest(folder, [*MODEL_FILES, ENCODER_FILE, READER_FILE])
    return folder


def flip_a_byte_keeping_the_mtime(path: Path, offset: int | None = None) -> None:
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if offset is None else offset] ^= 0x01
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.parametrize("preset", ["fast", "accurate"])
def test_shipped_models_carry_a_manifest_that_holds(preset):
    folder = model_path(preset)
    deltas = [name for name in (ENCODER_FILE, READER_FILE) if (folder / name).exists()]
    assert set(json.loads((folder / MANIFEST).read_text())["sha256"]) == {*MODEL_FILES, *deltas}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PropagandaModel.load(folder)


@pytest.mark.parametrize("name", [*MODEL_FILES, ENCODER_FILE, READER_FILE])
def test_a_flipped_byte_in_any_model_file_is_refused(fast_copy, name):
    flip_a_byte_keeping_the_mtime(fast_copy / name, offset=3 if name == "config.json" else None)
    with pytest.raises(ModelError, match=f"{name} does not match the sha256"):
        PropagandaModel.load(fast_copy)


def test_save_writes_the_manifest_and_a_model_without_one_loads_with_a_warning(fast_copy, tmp_path):
    PropagandaModel.load(fast_copy).save(tmp_path / "saved")
    assert set(json.loads((tmp_path / "saved" / MANIFEST).read_text())["sha256"]) == {
        *MODEL_FILES,
        ENCODER_FILE,
        READER_FILE,
    }
    (fast_copy / MANIFEST).unlink()
    with pytest.warns(UserWarning, match="cannot be checked"):
        PropagandaModel.load(fast_copy)


def rewritten(folder: Path, name: str, data: bytes) -> Path:
    """Replace a file and record its hash, as a consistent but malformed model would be."""
    (folder / name).write_bytes(data)
    write_manifest(folder, [*MODEL_FILES, ENCODER_FILE, READER_FILE])
    return folder


def test_transitions_of_the_wrong_shape_are_refused(fast_copy):
    save_file(
        {"start": np.zeros(5, np.float32), "pairs": np.zeros((5, 5), np.float32), "end": np.zeros(5, np.float32)},
        str(fast_copy / "t"),
    )
    rewritten(fast_copy, "transitions.safetensors", (fast_copy / "t").read_bytes())
    with pytest.raises(ModelError, match="transitions of shapes"):
        PropagandaModel.load(fast_copy)
    rewritten(fast_copy, "transitions.safetensors", b"not safetensors")
    with pytest.raises(ModelError, match="not a transitions file"):
        PropagandaModel.load(fast_copy)


def test_malformed_encoder_deltas_are_refused_at_load(fast_copy):
    rewritten(fast_copy, ENCODER_FILE, b"not safetensors")
    with pytest.raises(ModelError, match="not an encoder deltas file"):
        PropagandaModel.load(fast_copy)
    save_file({"head.weight": np.zeros((2, 2), np.float32)}, str(fast_copy / "t"))
    rewritten(fast_copy, ENCODER_FILE, (fast_copy / "t").read_bytes())
    with pytest.raises(ModelError, match="not an encoder deltas file"):
        PropagandaModel.load(fast_copy)


@pytest.mark.parametrize("content", [b"{not json", b'{"labels": 5, "window": "wide"}', b"[]"])
def test_a_malformed_config_is_one_model_error(fast_copy, content):
    rewritten(fast_copy, "config.json", content)
    with pytest.raises(ModelError):
        PropagandaModel.load(fast_copy)


@pytest.mark.parametrize("content", [b"\x08\x07garbage that is not a graph", b""])
def test_a_malformed_graph_is_one_model_error(fast_copy, content):
    rewritten(fast_copy, "tagger.onnx", content)
    with pytest.raises(ModelError):
        PropagandaModel.load(fast_copy)


def test_a_graph_with_external_data_is_refused(fast_copy):
    import onnx

    graph = onnx.load(str(fast_copy / "classifier.onnx"))
    tensor = graph.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="../../etc/weights.bin")
    rewritten(fast_copy, "classifier.onnx", graph.SerializeToString())
    with pytest.raises(ModelError, match="external data"):
        PropagandaModel.load(fast_copy)


def test_a_built_file_changed_after_its_build_is_built_again(tmp_path, caplog):
    built = tmp_path / "model.onnx"
    built.write_bytes(b"built from the verified weights")
    mark_built(built, "weights-sha recipe")
    assert is_built(built, "weights-sha recipe") and not is_built(built, "other key")
    flip_a_byte_keeping_the_mtime(built)
    with caplog.at_level(logging.WARNING):
        assert not is_built(built, "weights-sha recipe")
    assert "does not match the sha256 recorded when it was built" in caplog.text


def test_the_cached_encoder_is_rebuilt_when_swapped(tmp_path):
    builds = []

    def make(path: Path) -> None:
        builds.append(path)
        path.write_bytes(b"the encoder")

    target = tmp_path / "model.onnx"
    assert build.built_once(target, "key", make) == target
    build.built_once(target, "key", make)
    assert len(builds) == 1
    target.write_bytes(b"another encoder")
    build.built_once(target, "key", make)
    assert len(builds) == 2 and target.read_bytes() == b"the encoder"


def test_weights_with_a_flipped_byte_and_their_mtime_restored_are_refused(tmp_path):
    weights = tmp_path / "model.safetensors"
    shutil.copyfile(encoders.encoder_path("all-MiniLM-L6-v2") / "model.safetensors", weights)
    spec = encoders.ENCODERS["all-MiniLM-L6-v2"]
    verify_weights(weights, spec)
    flip_a_byte_keeping_the_mtime(weights)
    with pytest.raises(ModelError, match="refusing to use it"):
        verify_weights(weights, spec)
