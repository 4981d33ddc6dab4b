"""Checking an encoder's weights against the sha256 its spec publishes, before anything uses them."""

from __future__ import annotations

from pathlib import Path

from propscan.errors import ModelError
from propscan.model.encoders.specs import EncoderSpec
from propscan.model.integrity import sha256_file


def verify_weights(weights: Path, spec: EncoderSpec) -> None:
    """Check the weights' sha256 in full, each time they are read (see ``propscan.model.integrity``)."""
    digest = sha256_file(weights)
    if digest != spec.weights_sha256:
        raise ModelError(
            f"{weights} has sha256 {digest}, expected {spec.weights_sha256}; "
            f"refusing to use it. Reinstall: {spec.install_hint}"
        )
