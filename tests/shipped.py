"""Which shipped model the batch, spaCy and corpus tests load, and a skip marker for its absence."""

import os

import pytest

from propscan.errors import PropscanError
from propscan.pipeline import model_path

MODEL = os.environ.get("PROPSCAN_TEST_BATCH_MODEL", "fast")


def _shipped() -> bool:
    try:
        model_path(MODEL)
    except PropscanError:
        return False
    return True


needs_model = pytest.mark.skipif(
    not _shipped(), reason=f"the {MODEL!r} model is not built (propscan train --model fast)"
)
