"""What validation articles choose: both decoding biases by the official SI F1, the technique-prior
correction by TC micro- plus macro-F1."""

import numpy as np

from propscan.document import AnnotatedDocument, Document, Span
from propscan.model.config import ModelConfig
from propscan.model.decoding import Transitions
from propscan.model.propaganda import prior_corrected
from propscan.training.selection import (
    choose_decoding,
    choose_partner_weight,
    choose_prior_correction,
    technique_shares,
)

FLAT = Transitions(np.zeros(3, np.float32), np.zeros((3, 3), np.float32), np.zeros(3, np.float32))


def _words(text: str) -> np.ndarray:
    starts = [i for i, c in enumerate(text) if c != " " and (i == 0 or text[i - 1] == " ")]
    return np.array([(s, text.find(" ", s) if " " in text[s:] else len(text)) for s in starts])


def _minister() -> tuple[AnnotatedDocument, np.ndarray, np.ndarray]:
    """Eight words, the gold span "the traitors betrayed" (words 3-5), and emissions sure that the
    first three words and the last are outside and neutral elsewhere."""
    text = "The minister said the traitors betrayed everyone again today"
    gold = AnnotatedDocument(Document(text, id="a"), (Span(18, 39, "Name_Calling,Labeling"),))
    offsets = _words(text)
    emissions = np.zeros((len(offsets), 3), dtype=np.float32)
    emissions[:3, 0] = emissions[-1, 0] = 5.0
    return gold, offsets, emissions


def test_a_tagger_that_runs_on_gets_a_length_prior():
    gold, offsets, emissions = _minister()
    # "the" begins weakly, "traitors" and "betrayed" continue strongly, "everyone again" continue a
    # little less strongly.
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


def test_a_partner_that_knows_where_the_span_ends_earns_a_weight():
    gold, offsets, own = _minister()
    # The model alone runs on past "betrayed"; the partner is sure that "everyone again" is outside.
    own[3, 1], own[4:8, 2] = 2.0, 2.0
    vote = np.zeros_like(own)
    vote[6:8, 0] = 8.0
    alone = choose_decoding([gold], [offsets], [own], FLAT, inside_biases=(0.0,))
    assert alone.si_f1 < 1.0
    weight, chosen = choose_partner_weight([gold], [offsets], [own], [vote], FLAT, alone)
    assert weight > 0 and chosen.si_f1 == 1.0
    # A partner that adds nothing is not taken: the model alone keeps its decoding.
    weight, chosen = choose_partner_weight([gold], [offsets], [own], [np.zeros_like(own)], FLAT, alone)
    assert weight == 0.0 and chosen == alone


LABELS = ["Loaded_Language", "Doubt", "Slogans"]


def _tc_case(leaning: float) -> tuple[list[AnnotatedDocument], list[dict], ModelConfig]:
    """Twelve gold spans, eight loaded language, two doubt, two slogans; the classifier ranks each
    span's true technique second-to-first by ``leaning`` towards loaded language."""
    techniques = ["Loaded_Language"] * 8 + ["Doubt", "Slogans"] * 2
    spans = tuple(Span(10 * k, 10 * k + 5, t) for k, t in enumerate(techniques))
    document = AnnotatedDocument(Document("x" * 130, id="c"), spans)
    rows = {}
    for span in spans:
        p = np.full(3, 0.1)
        p[LABELS.index(span.technique)] = 0.5
        p[0] += leaning if span.technique != "Loaded_Language" else 0.0
        rows[(span.start, span.end)] = p / p.sum()
    config = ModelConfig(labels=LABELS, technique_shares=technique_shares([document], LABELS))
    return [document], [rows], config


def test_a_classifier_that_leans_to_the_common_technique_gets_its_prior_corrected():
    documents, probabilities, config = _tc_case(leaning=0.5)
    chosen = choose_prior_correction(documents, probabilities, config)
    assert chosen.strength > 0 and chosen.tc_micro_f1 == chosen.tc_macro_f1 == 1.0


def test_a_classifier_already_right_keeps_its_prior():
    documents, probabilities, config = _tc_case(leaning=0.0)
    chosen = choose_prior_correction(documents, probabilities, config)
    assert (chosen.strength, chosen.tc_micro_f1) == (0.0, 1.0)


def test_the_correction_divides_out_the_training_shares():
    config = ModelConfig(labels=LABELS, technique_shares=[0.8, 0.1, 0.1])
    probabilities = np.array([[0.6, 0.3, 0.1]])
    assert prior_corrected(probabilities, config) is probabilities  # strength 0: as trained
    config.prior_correction = 1.0
    corrected = prior_corrected(probabilities, config)
    np.testing.assert_allclose(corrected, [[0.6 / 0.8, 3.0, 1.0]] / np.sum([0.6 / 0.8, 3.0, 1.0]), rtol=1e-6)
    assert corrected.argmax() == 1


def test_technique_shares_count_from_one():
    document = AnnotatedDocument(Document("abcdef", id="d"), (Span(0, 2, "Doubt"), Span(3, 5, "Doubt")))
    assert technique_shares([document], LABELS) == [0.2, 0.6, 0.2]
