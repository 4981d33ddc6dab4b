"""The command line: outputs in the field's formats, and clear errors with non-zero exits."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from propscan.cli import main
from propscan.readers.ptc import parse_label_lines
from propscan.techniques import TECHNIQUES

TINY = Path(__file__).parent / "data" / "tiny-ptc"
ARTICLES = TINY / "train-articles"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_analyze_json_has_offsets_text_and_scores(capsys, tiny_model_dir):
    code, out, _ = run(capsys, "analyze", ARTICLES / "article90001.txt", "--json", "--model", tiny_model_dir)
    assert code == 0
    payload = json.loads(out)
    text = (ARTICLES / "article90001.txt").read_text()
    assert payload["text"] == text
    assert {"spans", "sentences", "score", "model", "warnings"} <= set(payload)
    for span in payload["spans"]:
        assert text[span["start"] : span["end"]] == span["text"]


def test_analyze_reads_standard_input(tiny_model_dir):
    result = subprocess.run(
        [sys.executable, "-m", "propscan.cli", "analyze", "-", "--json", "--model", str(tiny_model_dir)],
        input=b"Only a fool would believe the council. The vote was on Tuesday.",
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout)["id"] == "stdin"


def test_analyze_prints_highlighted_text_and_legend(capsys, tiny_model_dir):
    code, out, _ = run(capsys, "analyze", ARTICLES / "article90004.txt", "--model", tiny_model_dir)
    assert code == 0
    assert "article score" in out and "Take back our city!" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\x00\x01\x02binary\x00", "looks binary"),
        (b"na\xefve caf\xe9", "not valid UTF-8"),
    ],
)
def test_bad_inputs_exit_nonzero_without_traceback(tmp_path, capsys, tiny_model_dir, content, message):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    code, out, err = run(capsys, "analyze", bad, "--model", tiny_model_dir)
    assert code == 1 and out == ""
    assert message in err and "Traceback" not in err


def test_size_limit_is_refused_before_loading_the_model(tmp_path, capsys):
    big = tmp_path / "big.txt"
    big.write_text("word " * 1000)
    code, _, err = run(capsys, "analyze", big, "--max-bytes", "1000", "--model", "/nonexistent")
    assert code == 1 and "above the limit of 1,000" in err


def test_unknown_model_is_a_clear_error(capsys):
    code, _, err = run(capsys, "analyze", ARTICLES / "article90001.txt", "--model", "/no/such/model")
    assert code == 1 and "no model at /no/such/model" in err


def test_predict_si_and_tc_write_semeval_files(tmp_path, capsys, tiny_model_dir):
    si_file, tc_file, template = tmp_path / "si.txt", tmp_path / "tc.txt", tmp_path / "template.txt"
    code, _, _ = run(capsys, "predict", "si", ARTICLES, "-o", si_file, "--model", tiny_model_dir)
    assert code == 0
    for line in parse_label_lines(si_file):
        assert line.article_id in {"90001", "90002", "90003", "90004"} and line.technique is None
    gold = [line for f in sorted((TINY / "train-labels-TC").glob("*.labels")) for line in parse_label_lines(f)]
    template.write_text("".join(f"{g.article_id}\t?\t{g.start}\t{g.end}\n" for g in gold))
    code, _, _ = run(capsys, "predict", "tc", ARTICLES, "--spans", template, "-o", tc_file, "--model", tiny_model_dir)
    assert code == 0
    predicted = parse_label_lines(tc_file)
    assert [(p.article_id, p.start, p.end) for p in predicted] == [(g.article_id, g.start, g.end) for g in gold]
    assert all(p.technique for p in predicted)


def test_evaluate_prints_si_tc_and_per_technique(capsys, tiny_model_dir):
    code, out, _ = run(capsys, "evaluate", "--data", TINY, "--split", "all", "--model", tiny_model_dir, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["articles"] == 4
    assert 0.0 <= report["si"]["f1"] <= 1.0 and report["si"]["support"] == 13  # merged gold spans
    assert report["tc"]["micro"]["support"] == 15
    low, high = report["si"]["f1_interval"]
    assert low <= report["si"]["f1"] <= high and report["interval_level"] == 0.95
    low, high = report["tc"]["macro_f1_interval"]
    assert low <= report["tc"]["macro_f1"] <= high
    for row in report["tc"]["per_technique"].values():
        assert (row["f1_interval"] is None) == (row["support"] == 0)
    assert set(report["calibration"]) == {"ece", "sentence_ece", "article_score_mae"}
    assert all(0.0 <= value <= 1.0 for value in report["calibration"].values())
    code, out, _ = run(capsys, "evaluate", "--data", TINY, "--split", "all", "--model", tiny_model_dir)
    ece = report["calibration"]["sentence_ece"]
    assert code == 0 and f"sentence ECE {ece:.4f}" in out


def test_evaluate_names_the_malformed_label_file_and_line(tmp_path, capsys, tiny_model_dir):
    corpus = tmp_path / "corpus"
    shutil.copytree(TINY, corpus)
    labels = corpus / "train-labels-TC" / "article90002.task-flc-tc.labels"
    labels.write_text(labels.read_text() + "90002\tDoubt\tfive\t9\n")
    code, _, err = run(capsys, "evaluate", "--data", corpus, "--model", tiny_model_dir)
    assert code == 1
    assert f"{labels}:4: offsets must be integers" in err


@pytest.mark.slow  # trains a model
def test_train_command_saves_a_loadable_model(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PROPSCAN_DATA", str(TINY))
    from propscan.settings import get_settings

    get_settings.cache_clear()
    try:
        code, out, _ = run(capsys, "train", "--model", "fast", "--epochs", "1", "--output", tmp_path / "m")
    finally:
        get_settings.cache_clear()
    assert code == 0
    assert json.loads(out)["train_documents"] >= 2
    code, out, _ = run(capsys, "analyze", ARTICLES / "article90002.txt", "--json", "--model", tmp_path / "m")
    assert code == 0 and json.loads(out)["model"].startswith("m@")


def test_train_without_torch_names_the_extra_to_install(tmp_path):
    code = (
        "import sys; sys.modules['torch'] = None; from propscan.cli import main; "
        f"sys.exit(main(['train', '--model', 'fast', '--data', {str(TINY)!r}, '--output', {str(tmp_path / 'm')!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert "training needs torch" in result.stderr and "propscan[train]" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "m").exists()


def test_analyze_keeps_techniques_named_by_readable_name_or_label(capsys, tiny_model_dir):
    code, out, _ = run(capsys, "analyze", ARTICLES / "article90001.txt", "--json", "--model", tiny_model_dir)
    found = {span["technique"] for span in json.loads(out)["spans"]}
    assert found, "the tiny model finds something in its own training article"
    label = min(found)
    readable = TECHNIQUES[label].name.upper()
    code, out, _ = run(
        capsys,
        "analyze",
        ARTICLES / "article90001.txt",
        "--json",
        "--model",
        tiny_model_dir,
        "--techniques",
        f"{readable},Exaggeration,Minimisation",
    )
    kept = {span["technique"] for span in json.loads(out)["spans"]}
    assert code == 0 and label in kept and kept <= {label, "Exaggeration,Minimisation"}


def test_color_flag_forces_colour_or_plain_markers(capsys, monkeypatch, tiny_model_dir):
    monkeypatch.setenv("NO_COLOR", "1")
    _, coloured, _ = run(
        capsys, "analyze", ARTICLES / "article90004.txt", "--model", tiny_model_dir, "--color", "always"
    )
    assert "\x1b[" in coloured and "[1]" in coloured and "[1>" not in coloured
    _, plain, _ = run(capsys, "analyze", ARTICLES / "article90004.txt", "--model", tiny_model_dir, "--color", "never")
    assert "\x1b[" not in plain and "[1>" in plain and "<1]" in plain


@pytest.mark.parametrize("command", ["analyze", "batch"])
def test_an_unknown_technique_is_refused_with_the_valid_names(tmp_path, capsys, tiny_model_dir, command):
    extra = ["--db", f"sqlite:///{tmp_path / 'x.db'}", "--no-progress"] if command == "batch" else []
    code, out, err = run(
        capsys, command, ARTICLES / "article90001.txt", "--model", tiny_model_dir, "--techniques", "Nope", *extra
    )
    assert code == 1 and out == ""
    assert "unknown technique 'Nope'" in err and "Loaded language (Loaded_Language)" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.db").exists()


def test_batch_techniques_with_a_folder_that_is_no_model_is_a_clear_error(tmp_path, capsys):
    code, _, err = run(capsys, "batch", ARTICLES, "--model", tmp_path, "--techniques", "Doubt", "--no-progress")
    assert code == 1 and f"{tmp_path} is not a propscan model" in err and "Traceback" not in err


def test_techniques_shows_the_readable_name_and_the_label(capsys):
    code, out, _ = run(capsys, "techniques")
    assert code == 0 and "--techniques takes\neither" in out
    assert (
        "Loaded language (Loaded_Language)" in out and "Exaggeration or minimisation (Exaggeration,Minimisation)" in out
    )


def test_techniques_lists_both_inventories(capsys):
    code, out, _ = run(capsys, "techniques", "--json")
    assert code == 0 and len(json.loads(out)) == 14
    code, out, _ = run(capsys, "techniques", "--inventory", "ptc18", "--json")
    assert {t["label"] for t in json.loads(out)} >= {
        "Straw_Men",
        "Red_Herring",
        "Obfuscation,Intentional_Vagueness,Confusion",
    }


def test_analyze_html_reports_offsets_into_the_extracted_text(tmp_path, capsys, tiny_model_dir):
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>Bridge vote</title></head><body><nav>Home | News</nav><article>"
        "<p>The council voted on Tuesday to repair the harbour bridge before the winter storms.</p>"
        "<p>Opponents called the plan a reckless waste that will bankrupt every family in town.</p>"
        "</article></body></html>"
    )
    code, out, _ = run(capsys, "analyze", page, "--json", "--model", tiny_model_dir)
    assert code == 0
    payload = json.loads(out)
    assert "reckless waste" in payload["text"] and "<p>" not in payload["text"]
    assert payload["metadata"]["title"] == "Bridge vote"
    for span in payload["spans"]:
        assert payload["text"][span["start"] : span["end"]] == span["text"]


def test_non_english_is_analyzed_with_a_warning(tmp_path, capsys, tiny_model_dir):
    article = tmp_path / "de.txt"
    article.write_text(
        "Der Stadtrat hat am Dienstag beschlossen, die Brücke im Hafen vor dem Winter zu reparieren. " * 3
    )
    code, out, err = run(capsys, "analyze", article, "--json", "--model", tiny_model_dir)
    assert code == 0
    assert "warning" in err and "not English" in err
    assert json.loads(out)["warnings"]


@pytest.fixture(scope="module")
def site():
    from tests.page_server import serving

    with serving() as base:
        yield base


def test_analyze_a_url_keeps_the_url_and_the_extracted_text(capsys, tiny_model_dir, site):
    from tests.page_server import ARTICLE_TITLE

    code, out, _ = run(capsys, "analyze", f"{site}/latin-header.html", "--json", "--model", tiny_model_dir)
    assert code == 0  # the CLI may fetch loopback: the user fetches for themselves
    payload = json.loads(out)
    assert payload["metadata"]["url"] == f"{site}/latin-header.html"
    assert payload["text"].startswith(ARTICLE_TITLE) and "Café" in payload["text"]
    for span in payload["spans"]:
        assert payload["text"][span["start"] : span["end"]] == span["text"]


@pytest.mark.parametrize(
    ("path", "message"), [("/missing", "HTTP 404"), ("/logo.png", "image/png"), ("/loop", "redirects")]
)
def test_analyze_an_unusable_url_is_a_one_line_error(capsys, site, path, message):
    code, out, err = run(capsys, "analyze", f"{site}{path}")
    assert code == 1 and not out
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
