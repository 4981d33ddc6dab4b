"""Documents, spans and sentence offsets on tricky text."""

import pytest

from propscan.document import Document, Span, merge_intervals, split_sentences


def test_span_checks_bounds_and_technique():
    with pytest.raises(ValueError):
        Span(5, 5, "Doubt")
    with pytest.raises(ValueError):
        Span(-1, 3, "Doubt")
    with pytest.raises(ValueError):
        Span(0, 3, "Not_A_Technique")
    document = Document("short")
    with pytest.raises(ValueError):
        Span(0, 10, "Doubt").text(document)


@pytest.mark.parametrize(
    "text",
    [
        "Title\r\n\r\nFirst sentence here. Second one!\r\nThird?",
        "Emoji 😀 first. Then 'quoted.' And “curly.” End",
        "\u00a0Leading no-break space. Combining e\u0301 accent. Done.",
        "One line without any end punctuation",
    ],
)
def test_sentences_index_the_original_text(text):
    sentences = split_sentences(text)
    assert sentences
    for sentence in sentences:
        piece = text[sentence.start : sentence.end]
        assert piece == piece.strip()
        assert "\n" not in piece
    inside = {i for s in sentences for i in range(s.start, s.end)}
    assert all(i in inside for i, char in enumerate(text) if not char.isspace())


def test_sentence_split_keeps_closing_quotes():
    text = 'He said "No." Then he left.'
    assert [text[s.start : s.end] for s in split_sentences(text)] == ['He said "No."', "Then he left."]


def test_merge_intervals_merges_overlaps_only():
    assert merge_intervals([(5, 8), (0, 6), (8, 9), (20, 21)]) == [(0, 8), (8, 9), (20, 21)]
