"""Surface features: the cues the lowercasing tokenizers lose, checked token by token."""

import math
import re

import numpy as np

from propscan.model.features import SURFACE_FEATURES, surface_features

TEXT = 'Big NEWS: "Stop it" now.\nThe 2 fools, the fools! Stop it now.'
LOG2 = math.log(2)

# token: first_upper, all_upper, punctuation, quote_char, in_title, word_repeats,
#        in_repeated_trigram, sentence_start, inside_quotes, digit
EXPECTED = [
    ("Big", 1, 0, 0, 0, 1, 0, 0, 1, 0, 0),
    ("NEWS", 1, 1, 0, 0, 1, 0, 0, 0, 0, 0),
    (":", 0, 0, 1, 0, 1, 0, 0, 0, 0, 0),
    ('"', 0, 0, 1, 1, 1, 0, 0, 0, 0, 0),
    ("Stop", 1, 0, 0, 0, 1, LOG2, 1, 0, 1, 0),
    ("it", 0, 0, 0, 0, 1, 0, 1, 0, 1, 0),
    ('"', 0, 0, 1, 1, 1, 0, 1, 0, 0, 0),
    ("now", 0, 0, 0, 0, 1, 0, 1, 0, 0, 0),
    (".", 0, 0, 1, 0, 1, 0, 0, 0, 0, 0),
    ("The", 1, 0, 0, 0, 0, 0, 0, 1, 0, 0),
    ("2", 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
    ("fools", 0, 0, 0, 0, 0, LOG2, 0, 0, 0, 0),
    (",", 0, 0, 1, 0, 0, 0, 0, 0, 0, 0),
    ("the", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    ("fools", 0, 0, 0, 0, 0, LOG2, 0, 0, 0, 0),
    ("!", 0, 0, 1, 0, 0, 0, 0, 0, 0, 0),
    ("Stop", 1, 0, 0, 0, 0, LOG2, 1, 1, 0, 0),
    ("it", 0, 0, 0, 0, 0, 0, 1, 0, 0, 0),
    ("now", 0, 0, 0, 0, 0, 0, 1, 0, 0, 0),
    (".", 0, 0, 1, 0, 0, 0, 0, 0, 0, 0),
]


def test_surface_features_token_by_token():
    offsets = np.array([m.span() for m in re.finditer(r"\w+|[^\w\s]", TEXT)])
    assert [TEXT[a:b] for a, b in offsets] == [row[0] for row in EXPECTED]
    features = surface_features(TEXT, offsets)
    assert features.shape == (len(EXPECTED), len(SURFACE_FEATURES)) and features.dtype == np.float32
    for (token, *expected), got, (start, _) in zip(EXPECTED, features, offsets, strict=True):
        assert got.tolist() == np.float32(expected).tolist(), f"{token!r} at {start}"


def test_surface_features_of_no_tokens_and_of_unusual_characters():
    assert surface_features("", np.zeros((0, 2), dtype=np.int64)).shape == (0, len(SURFACE_FEATURES))
    text = "ÉCOLE 東京 Ⅷ ٣ «x»"
    offsets = np.array([m.span() for m in re.finditer(r"\S+", text)])
    features = surface_features(text, offsets)
    names = {name: i for i, name in enumerate(SURFACE_FEATURES)}
    assert features[:, names["all_upper"]].tolist() == [1, 0, 0, 0, 0]  # uncased letters are not capitals
    assert features[:, names["digit"]].tolist() == [0, 0, 0, 1, 0]  # Arabic-Indic three is a digit
    assert features[:, names["quote_char"]].tolist() == [0, 0, 0, 0, 1]
