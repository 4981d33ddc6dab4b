"""propscan: find propaganda techniques in news articles, span by span."""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

from propscan.document import Analysis, Document, Sentence, Span  # noqa: E402
from propscan.errors import CorpusFormatError, InputError, ModelError, NotFittedError, PropscanError  # noqa: E402
from propscan.pipeline import Analyzer  # noqa: E402
from propscan.techniques import PTC18, SEMEVAL2020, TECHNIQUES, Technique  # noqa: E402

__all__ = [
    "Analysis",
    "Analyzer",
    "CorpusFormatError",
    "Document",
    "InputError",
    "ModelError",
    "NotFittedError",
    "PTC18",
    "PropscanError",
    "SEMEVAL2020",
    "Sentence",
    "Span",
    "TECHNIQUES",
    "Technique",
    "__version__",
]
