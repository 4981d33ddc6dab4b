"""propscan: find propaganda techniques in news articles, span by span."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

logging.getLogger(__name__).addHandler(logging.NullHandler())

from propscan.document import Analysis, Document, Sentence, Span  # noqa: E402
from propscan.errors import CorpusFormatError, InputError, ModelError, NotFittedError, PropscanError  # noqa: E402
from propscan.techniques import PTC18, SEMEVAL2020, TECHNIQUES, Technique  # noqa: E402
from propscan.version import __version__  # noqa: E402

if TYPE_CHECKING:
    from propscan.cascade import Cascade
    from propscan.pipeline import Analyzer


def __getattr__(name: str) -> Any:
    # The Analyzer and the Cascade pull in onnxruntime and the model code; import it only when asked for.
    if name == "Analyzer":
        from propscan.pipeline import Analyzer

        return Analyzer
    if name == "Cascade":
        from propscan.cascade import Cascade

        return Cascade
    raise AttributeError(f"module 'propscan' has no attribute {name!r}")


__all__ = [
    "PTC18",
    "SEMEVAL2020",
    "TECHNIQUES",
    "Analysis",
    "Analyzer",
    "Cascade",
    "CorpusFormatError",
    "Document",
    "InputError",
    "ModelError",
    "NotFittedError",
    "PropscanError",
    "Sentence",
    "Span",
    "Technique",
    "__version__",
]
