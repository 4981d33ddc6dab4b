"""Decoding is chosen on validation articles: both biases, by the official SI F1."""

import numpy as np

from propscan.document import AnnotatedDocument, Document, Span
from propscan.model.decoding import Transitions
from propscan.training.selection import choose_decoding

FLAT = Transitions(np.zeros(3, np.float32), np.zeros((3, 3), np.float32), np.zeros(3, np.float32))


def _words(text: str) -> np.ndarray:
    starts = [i for i, c in enumerate(text) if c != " " and (i == 0 or text[i - 1] == " ")]
    return np.array([(s, text.find(" ", s) if " " in text[s:] else len(text)) for s in starts])


def test_a_tagger_that_runs_on_gets_a_length_prior():
    text = "The minister said the traitors betrayed everyone again today"
    # Gold: "the traitors betrayed".
    gold = AnnotatedDocument(Document(text, id="a"), (Span(18, 39, "Name_Calling,Labeling"),))
    offsets = _words(text)
    # Outside is sure on the first three words and the last; "the" begins weakly, "traitors" and
    # "betrayed" continue strongly, "everyone again" continue a little less strongly.
    emissions = np.zeros((len(offsets), 3), dtype=np.float32)
    emissions[:3, 0] = emissions[-1, 0] = 5.0
    emissions[3, 1], emissions[4:6, 2], emissions[6:8, 2] = 0.3, 1.0, 0.6
    chosen = choose_decoding([gold], [offsets], [emissions], FLAT)
    assert chosen.inside_bias < 0 and chosen.si_f1 == 1.0
    outside_only = choose_decoding([gold], [offsets], [emissions], FLAT, inside_biases=(0.0,))
    assert outside_only.inside_bias == 0.0 and outside_only.si_f1 < 0.9


def test_validation_that_cannot_tell_leaves_decoding_alone():
    text = "Nothing here is loaded"
    plain = AnnotatedDocument(Document(text, id="b"), ())
    emissions = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    chosen = choose_decoding([plain], [_words(text)], [emissions], FLAT)
    assert (chosen.outside_bias, chosen.inside_bias, chosen.si_f1) == (0.0, 0.0, 0.0)
