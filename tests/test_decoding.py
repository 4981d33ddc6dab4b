"""CRF decoding in numpy must find the same paths as pytorch-crf, which trained the transitions."""

import numpy as np
import pytest

from propscan.model.decoding import (
    BEGIN,
    INSIDE,
    NESTED_MIN_TOKENS,
    OUTSIDE,
    FoundSpan,
    Transitions,
    decode_spans,
    emissions_on_tokens,
    inside_probability,
    nested_candidates,
    split_at_blank_lines,
    tags_to_token_spans,
    trim,
    viterbi,
)


def test_viterbi_matches_pytorch_crf_on_ragged_batches():
    torch = pytest.importorskip("torch")
    from torchcrf import CRF

    torch.manual_seed(0)
    crf = CRF(3, batch_first=True)
    for parameter in crf.parameters():
        torch.nn.init.normal_(parameter, std=2.0)
    lengths = [7, 1, 30, 12]
    emissions = [np.random.default_rng(i).normal(size=(n, 3)).astype(np.float32) * 3 for i, n in enumerate(lengths)]
    padded = torch.zeros((len(lengths), max(lengths), 3))
    for row, scores in enumerate(emissions):
        padded[row, : len(scores)] = torch.from_numpy(scores)
    mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]
    expected = crf.decode(padded, mask=mask)
    transitions = Transitions(
        crf.start_transitions.detach().numpy(), crf.transitions.detach().numpy(), crf.end_transitions.detach().numpy()
    )
    assert viterbi(emissions, transitions) == expected


def test_transitions_forbid_what_emissions_suggest():
    # Emissions alone say O I I; a transition score that forbids O -> I turns it into O B I.
    emissions = [np.array([[5, 0, 0], [0, 1, 2], [0, 0, 3]], dtype=np.float32)]
    pairs = np.zeros((3, 3), dtype=np.float32)
    pairs[OUTSIDE, INSIDE] = -100
    transitions = Transitions(np.zeros(3, np.float32), pairs, np.zeros(3, np.float32))
    assert viterbi(emissions, transitions) == [[OUTSIDE, BEGIN, INSIDE]]


def test_outside_bias_trades_caution_for_recall():
    emissions = [np.array([[1.0, 0.8, 0.0], [1.0, 0.0, 0.8]], dtype=np.float32)]
    flat = Transitions(np.zeros(3, np.float32), np.zeros((3, 3), np.float32), np.zeros(3, np.float32))
    assert viterbi(emissions, flat) == [[OUTSIDE, OUTSIDE]]
    assert viterbi(emissions, flat, outside_bias=-0.5) == [[BEGIN, INSIDE]]
    assert inside_probability(emissions[0], outside_bias=-0.5).min() > inside_probability(emissions[0]).max()


def test_inside_bias_ends_spans_sooner():
    # B, a sure I, an unsure I, a sure I: one span of four tokens until the inside bias makes the
    # unsure token cost more than stepping outside, which splits it where the tagger hesitated.
    emissions = [np.array([[0, 2, 0], [0, 0, 1.0], [0, 0, 0.3], [0, 0, 1.0]], dtype=np.float32)]
    flat = Transitions(np.zeros(3, np.float32), np.zeros((3, 3), np.float32), np.zeros(3, np.float32))
    assert tags_to_token_spans(viterbi(emissions, flat)[0]) == [(0, 4)]
    assert tags_to_token_spans(viterbi(emissions, flat, inside_bias=-0.5)[0]) == [(0, 2), (3, 4)]
    assert (inside_probability(emissions[0], inside_bias=-0.5)[1:] < inside_probability(emissions[0])[1:]).all()


def test_bio_paths_become_token_ranges():
    assert tags_to_token_spans([OUTSIDE, BEGIN, INSIDE, OUTSIDE, INSIDE, BEGIN, BEGIN]) == [
        (1, 3),
        (4, 5),
        (5, 6),
        (6, 7),
    ]
    assert tags_to_token_spans([]) == []


def test_spans_are_trimmed_like_ptc_gold():
    text = "They said: total betrayal, again."
    assert trim(text, 9, 26) == (11, 25)
    assert text[11:25] == "total betrayal"
    assert trim(text, 25, 27) == (27, 27)


def test_decode_spans_maps_tokens_to_characters():
    text = "A shameless, reckless plan."
    offsets = np.array([[0, 1], [2, 11], [11, 12], [13, 21], [22, 26], [26, 27]])
    emissions = np.full((6, 3), -5.0, dtype=np.float32)
    emissions[:, OUTSIDE] = 5.0
    emissions[1] = [-5, 5, -5]
    emissions[2:4] = [-5, -5, 5]
    flat = Transitions(np.zeros(3, np.float32), np.zeros((3, 3), np.float32), np.zeros(3, np.float32))
    [found] = decode_spans([text], [offsets], [emissions], flat, outside_bias=0.0)
    assert [(f.start, f.end, f.first_token, f.last_token) for f in found] == [(2, 21, 1, 4)]
    assert text[2:21] == "shameless, reckless" and found[0].score > 0.99


def test_a_span_is_cut_where_a_blank_line_parts_the_headline_from_the_text():
    text = "Traitors win\n\nThe traitors won again\nand again"
    offsets = np.array([[0, 8], [9, 12], [14, 17], [18, 26], [27, 30], [31, 36], [37, 40], [41, 46]])
    emissions = np.full((8, 3), -5.0, dtype=np.float32)
    emissions[0] = [-5, 5, -5]
    emissions[1:] = [-5, -5, 5]
    flat = Transitions(np.zeros(3, np.float32), np.zeros((3, 3), np.float32), np.zeros(3, np.float32))
    [found] = decode_spans([text], [offsets], [emissions], flat, outside_bias=0.0)
    # One tagged run over all eight tokens; a single line break does not cut it, the blank line does.
    assert [text[f.start : f.end] for f in found] == ["Traitors win", "The traitors won again\nand again"]
    assert [(f.first_token, f.last_token) for f in found] == [(0, 2), (2, 8)]
    assert split_at_blank_lines(text, offsets, 2, 8) == [(2, 8)]
    assert split_at_blank_lines("a\n \r\n\nb", np.array([[0, 1], [7, 8]]), 0, 2) == [(0, 1), (1, 2)]


def test_another_tokenizations_emissions_move_onto_these_tokens_by_character_overlap():
    emissions = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [3, 3, 3]], dtype=np.float32)
    source = np.array([[0, 2], [2, 6], [7, 9], [10, 12]])
    target = np.array([[0, 6], [6, 7], [7, 12], [0, 1]])
    moved = emissions_on_tokens(emissions, source, target)
    # [0, 6) covers the first two tokens, [6, 7) none (the space), [7, 12) the last two, [0, 1) the first.
    assert np.allclose(moved, [[0.5, 0.5, 0], [0, 0, 0], [1.5, 1.5, 2], [1, 0, 0]])
    assert np.allclose(emissions_on_tokens(emissions, source, source), emissions)
    assert emissions_on_tokens(emissions[:0], source[:0], target).shape == (4, 3)


def _words(text):
    """Token offsets of ``text``, one token per space-separated word."""
    offsets, position = [], 0
    for word in text.split(" "):
        offsets.append([position, position + len(word)])
        position += len(word) + 1
    return np.array(offsets)


FLAT = Transitions(np.zeros(3, np.float32), np.zeros((3, 3), np.float32), np.zeros(3, np.float32))


def test_a_phrase_nested_in_a_long_span_is_found_by_a_stronger_length_prior():
    text = "And the world fears this mad sectarian state and a war"
    offsets = _words(text)
    # The tagger is sure of "mad sectarian state" (and of "a"), unsure of the rest of the run.
    emissions = np.zeros((len(offsets), 3), dtype=np.float32)
    emissions[:, BEGIN] = -1.0
    emissions[:, INSIDE] = 0.8
    emissions[0] = [0, 1, 0]
    emissions[[5, 6, 7, 9], INSIDE] = 3.0
    [[parent]] = decode_spans([text], [offsets], [emissions], FLAT, outside_bias=0.0)
    assert (parent.first_token, parent.last_token) == (0, len(offsets))
    found = nested_candidates(text, offsets, emissions, FLAT, parent, outside_bias=0.0, inside_bias=0.0)
    # "And" and the lone "a" are runs too, but hold no word of four letters: nothing a reader can act on.
    assert [(text[f.start : f.end], f.first_token, f.last_token) for f in found] == [("mad sectarian state", 5, 8)]
    assert found[0].score > 0.9


def test_short_spans_and_runs_over_the_whole_parent_give_no_nested_candidates():
    text = "They are traitors and cowards and liars and thieves"
    offsets = _words(text)
    sure = np.tile(np.array([0, -1, 5], dtype=np.float32), (len(offsets), 1))
    sure[0] = [0, 5, -1]
    whole = FoundSpan(0, len(text), 0, len(offsets), 0.99)
    assert len(offsets) >= NESTED_MIN_TOKENS
    assert nested_candidates(text, offsets, sure, FLAT, whole, outside_bias=0.0, inside_bias=0.0) == []
    unsure = sure.copy()
    unsure[1:4, INSIDE] = 0.5  # "are traitors and" drop out under the stronger prior
    found = nested_candidates(text, offsets, unsure, FLAT, whole, outside_bias=0.0, inside_bias=0.0)
    assert [text[f.start : f.end] for f in found] == ["They", "cowards and liars and thieves"]
    short = FoundSpan(0, 12, 0, NESTED_MIN_TOKENS - 1, 0.99)
    assert nested_candidates(text, offsets, unsure, FLAT, short, outside_bias=0.0, inside_bias=0.0) == []
