"""The PTC reader: ids, labels, inventories, and malformed files named by file and line."""

import re
import shutil
from pathlib import Path

import pytest

from propscan.document import Document, Span
from propscan.errors import CorpusFormatError
from propscan.readers.ptc import (
    load_corpus,
    parse_label_lines,
    read_articles,
    read_template,
    split_ids,
    write_si,
    write_tc,
)
from propscan.techniques import PTC18, SEMEVAL2020

TINY = Path(__file__).parent / "data" / "tiny-ptc"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_tiny_corpus_loads_with_exact_offsets():
    corpus = load_corpus(TINY)
    assert [d.document.id for d in corpus] == ["90001", "90002", "90003", "90004"]
    spans = {d.document.id: d for d in corpus}["90004"].spans
    text = {d.document.id: d for d in corpus}["90004"].document.text
    assert [text[s.start : s.end] for s in spans if s.technique == "Repetition"] == ["Take back our city!"] * 2
    # The same span with two techniques is kept twice.
    assert sum(1 for s in spans if (s.start, s.end) == (249, 268)) == 2


def copy_tiny(tmp_path: Path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(TINY, target)
    return target


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("90001\t10", "expected 3 (SI) or 4 (TC)"),
        ("90001\tLoaded_Language\t10", "offsets must be integers"),
        ("90001\tLoaded_Language\tten\t20", "offsets must be integers"),
        ("90001\tLoaded_Language\t20\t10", "0 <= start < end"),
        ("90001\tNot_A_Technique\t10\t20", "unknown technique 'Not_A_Technique'"),
        ("99999\tLoaded_Language\t10\t20", "no article99999.txt"),
    ],
)
def test_malformed_label_lines_name_file_and_line(tmp_path, line, message):
    corpus = copy_tiny(tmp_path)
    labels = corpus / "train-labels-TC" / "article90001.task-flc-tc.labels"
    labels.write_text(labels.read_text() + "\n" + line + "\n")
    with pytest.raises(CorpusFormatError, match=re.escape(message)) as error:
        load_corpus(corpus)
    assert error.value.path == str(labels)
    assert error.value.line == 6


def test_non_utf8_article_is_named(tmp_path):
    corpus = copy_tiny(tmp_path)
    (corpus / "train-articles" / "article90002.txt").write_bytes(b"caf\xe9 au lait")
    with pytest.raises(CorpusFormatError, match=r"article90002\.txt: not valid UTF-8"):
        load_corpus(corpus)


def test_missing_folder_and_labels_are_clear(tmp_path):
    with pytest.raises(CorpusFormatError, match="corpus folder not found"):
        load_corpus(tmp_path / "nope")
    (tmp_path / "train-articles").mkdir()
    (tmp_path / "train-articles" / "article1.txt").write_text("x")
    with pytest.raises(CorpusFormatError, match="no technique labels"):
        load_corpus(tmp_path)


def test_windows_line_endings_keep_offsets(tmp_path):
    corpus = copy_tiny(tmp_path)
    article = corpus / "train-articles" / "article90001.txt"
    text = article.read_text()
    crlf = text.replace("\n", "\r\n")
    article.write_bytes(crlf.encode())
    fragment = "reckless waste"
    start = crlf.index(fragment)
    labels = corpus / "train-labels-TC" / "article90001.task-flc-tc.labels"
    labels.write_text(f"90001\tLoaded_Language\t{start}\t{start + len(fragment)}\n")
    document = {d.document.id: d for d in load_corpus(corpus)}["90001"]
    assert document.document.text == crlf
    span = document.spans[0]
    assert document.document.text[span.start : span.end] == fragment


def test_eighteen_techniques_map_into_fourteen():
    assert SEMEVAL2020.normalize("Straw_Men") == "Whataboutism,Straw_Men,Red_Herring"
    assert SEMEVAL2020.normalize("Bandwagon") == "Bandwagon,Reductio_ad_hitlerum"
    assert PTC18.normalize("Straw_Men") == "Straw_Men"
    assert len(SEMEVAL2020) == 14 and len(PTC18) == 18


def test_split_is_deterministic_and_disjoint():
    ids = [str(i) for i in range(1000)]
    train, validation = split_ids(ids, 0.15)
    assert split_ids(reversed(ids), 0.15) == (train, validation)
    assert not set(train) & set(validation)
    assert 100 < len(validation) < 200


def test_writers_round_trip_through_the_parser(tmp_path):
    spans = [Span(0, 5, "Doubt"), Span(3, 9, "Slogans"), Span(20, 25, "Repetition")]
    write_si(tmp_path / "si.txt", [("42", spans)])
    write_tc(tmp_path / "tc.txt", [("42", spans)])
    si = [(x.article_id, x.start, x.end) for x in parse_label_lines(tmp_path / "si.txt")]
    assert si == [("42", 0, 9), ("42", 20, 25)]  # SI predictions must not overlap
    tc = [(x.technique, x.start, x.end) for x in parse_label_lines(tmp_path / "tc.txt")]
    assert tc == [("Doubt", 0, 5), ("Slogans", 3, 9), ("Repetition", 20, 25)]


@pytest.mark.skipif(not (SHARED / "ptc").is_dir(), reason="../shared/data/ptc is not beside the repo")
def test_real_ptc_corpus_matches_its_readme():
    corpus = load_corpus(SHARED / "ptc")
    assert len(corpus) == 371
    assert sum(len(d.spans) for d in corpus) == 6128
    articles = read_articles(SHARED / "ptc" / "train-articles")
    assert set(articles) == {d.document.id for d in corpus}


@pytest.mark.skipif(not (SHARED / "nlp4if2019").is_dir(), reason="../shared/data/nlp4if2019 is not beside the repo")
def test_nlp4if_has_all_eighteen_techniques():
    corpus = load_corpus(SHARED / "nlp4if2019", PTC18)
    techniques = {s.technique for d in corpus for s in d.spans}
    assert techniques == set(PTC18.labels)


@pytest.mark.skipif(not (SHARED / "ptc").is_dir(), reason="../shared/data/ptc is not beside the repo")
def test_inventories_match_the_official_technique_lists():
    folder = SHARED / "ptc" / "techniques"
    assert (
        list(SEMEVAL2020.labels) == (folder / "propaganda-techniques-names-semeval2020task11.txt").read_text().split()
    )
    assert list(PTC18.labels) == (folder / "propaganda-techniques-names.txt").read_text().split()


def test_a_template_span_past_its_article_names_the_line(tmp_path):
    template = tmp_path / "template.txt"
    template.write_text("1\tDoubt\t0\t4\n1\tDoubt\t0\t400\n")
    articles = {"1": Document("Four words of text.", id="1")}
    with pytest.raises(CorpusFormatError, match=r"template\.txt:2: span ends beyond the article"):
        read_template(template, articles)
    with pytest.raises(CorpusFormatError, match=r"template\.txt:1: no article1\.txt"):
        read_template(template, {"2": Document("x", id="2")})
