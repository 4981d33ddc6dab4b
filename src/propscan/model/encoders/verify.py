"""Checking an encoder's weights against the sha256 its spec publishes, before anything uses them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from propscan.errors import ModelError
from propscan.model.encoders.specs import EncoderSpec
from propscan.settings import get_settings


def verify_weights(weights: Path, spec: EncoderSpec) -> None:
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
            f"refusing to use it. Reinstall: {spec.install_hint}"
        )
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(expected_stamp)
