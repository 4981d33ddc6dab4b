"""Terminal output: spans readable without colour, techniques distinguishable in every colour depth."""

import io
import re

import pytest
from rich.console import Console

from propscan.document import Analysis, Document, Span
from propscan.pipeline import build_analysis
from propscan.render import print_analysis
from propscan.techniques import PTC18, SEMEVAL2020

SGR = re.compile(r"\x1b\[([0-9;]*)m")


def analysis_of(labels):
    """One span per technique, each over its own word, so the output can be read back."""
    words = [f"word{i}" for i in range(len(labels))]
    text = " ".join(words) + "."
    spans, position = [], 0
    for word, label in zip(words, labels, strict=True):
        spans.append(Span(position, position + len(word), label, 0.5))
        position += len(word) + 1
    return Analysis(Document(text), tuple(spans), (), 0.5, "test@0"), words


def printed(analysis, **console_options):
    out = io.StringIO()
    print_analysis(analysis, Console(file=out, width=400, **console_options))
    return out.getvalue()


def body_line(output, first_word):
    return next(line for line in output.splitlines() if first_word in line and "│" not in line)


def test_uncoloured_output_marks_where_each_span_starts_and_ends():
    document = Document("If the turbines go up, the bills go up. The vote was on Tuesday.")
    spans = (Span(0, 38, "Appeal_to_fear-prejudice", 0.6), Span(23, 38, "Repetition", 0.4))
    output = printed(Analysis(document, spans, (), 0.3, "test@0"))  # a StringIO is not a terminal: no colour
    assert "[1>If the turbines go up, [2>the bills go up<2]<1]. The vote was on Tuesday." in output
    assert "\x1b[" not in output


def test_a_span_nested_at_the_start_of_another_opens_inside_it():
    document = Document("Real patriots do not sell their town.")
    spans = [Span(0, 13, "Name_Calling,Labeling", 0.4), Span(0, 36, "Flag-Waving", 0.2)]
    output = printed(build_analysis(document, spans, 0.0, None, "test@0"))
    assert "[1>[2>Real patriots<2] do not sell their town<1]." in output


def test_the_header_says_the_article_score_in_sentences_when_they_are_probabilities():
    document = Document("Traitors sold the harbour. The board met on Friday. Shameful greed!")
    spans = [Span(0, 8, "Name_Calling,Labeling", 0.8), Span(52, 66, "Loaded_Language", 0.6)]
    sentence_map = {
        "has_span": 3.0,
        "best_logit": 0.0,
        "log_spans": 0.0,
        "intercept": -1.0,
    }  # 0.88 with a span, 0.27 without
    header = printed(build_analysis(document, spans, 0.0, None, "test@0", sentence_map)).splitlines()[0]
    assert "article score 0.68 (about 2 of 3 sentences hold a technique)  2 spans in 3 sentences" in header
    ranking = printed(build_analysis(document, spans, 0.0, None, "test@0")).splitlines()[0]
    assert "article score 0.47  2 spans" in ranking  # no map: the best spans' mean, a ranking, said as no share


def test_no_color_is_honoured_in_a_terminal(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    analysis, words = analysis_of(["Loaded_Language", "Doubt"])
    line = body_line(printed(analysis, force_terminal=True), words[0])
    assert SGR.sub("", line) == "[1>word0<1] [2>word1<2]."
    assert not re.search(r"\x1b\[[0-9;]*(3[0-9]|4[0-9]|9[0-9]|10[0-7])[;m]", line), "a colour code despite NO_COLOR"


@pytest.mark.parametrize("inventory", [SEMEVAL2020, PTC18], ids=lambda i: i.name)
@pytest.mark.parametrize("color_system", ["standard", "256", "truecolor", "windows"])
def test_every_technique_looks_different_at_every_colour_depth(inventory, color_system):
    analysis, words = analysis_of(inventory.labels)
    line = body_line(printed(analysis, force_terminal=True, color_system=color_system), words[0])
    looks = {}
    for word in words:
        codes = SGR.findall(line[: line.index(word)])
        looks[word] = codes[-1] if codes else ""
    assert all(looks.values()), "a span without a style"
    assert len(set(looks.values())) == len(words), f"techniques share a look: {looks}"
    if color_system in ("standard", "windows"):
        assert not any("38;" in look or "48;" in look for look in looks.values()), (
            "8/16-colour terminals get basic colours"
        )
