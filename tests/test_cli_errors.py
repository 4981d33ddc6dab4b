"""Bad command lines: one line on stderr, a non-zero exit, no traceback, before any model loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from propscan import cli
from propscan.cli import main

TINY_ARTICLE = Path(__file__).parent / "data" / "tiny-ptc" / "train-articles" / "article90001.txt"


def fails(capsys, *argv) -> tuple[int, str]:
    """Run the CLI and return its exit code and stderr, whether it returned or exited."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit:
        code = exit.code
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return code, err


@pytest.mark.parametrize("value", ["5", "-1", "nan", "inf", "half"])
@pytest.mark.parametrize("command", [["analyze", TINY_ARTICLE], ["batch", TINY_ARTICLE]])
def test_thresholds_outside_0_to_1_are_refused(capsys, command, value):
    _, err = fails(capsys, *command, "--threshold", value, "--model", "/no/model")
    assert "expected a number from 0 to 1" in err


def test_negative_max_bytes_is_refused(capsys):
    _, err = fails(capsys, "analyze", TINY_ARTICLE, "--max-bytes", "-1")
    assert "--max-bytes" in err and "at least 1" in err


def test_a_port_out_of_range_is_refused(capsys):
    _, err = fails(capsys, "serve", "--port", "99999")
    assert "a port from 1 to 65535" in err


@pytest.mark.parametrize("command", [["report"], ["export", "-o", "out.jsonl"]])
def test_a_run_id_too_large_for_the_database_is_refused(capsys, tmp_path, command):
    _, err = fails(capsys, *command, "--db", tmp_path / "x.db", "--run", "9223372036854775808")
    assert "a run id from 1 to 9223372036854775807" in err


def test_an_unreadable_file_is_one_line(capsys):
    _, err = fails(capsys, "analyze", "/proc/self/mem", "--model", "/no/model")
    assert "/proc/self/mem: cannot read it" in err


def test_a_directory_is_named_as_such(capsys, tmp_path):
    _, err = fails(capsys, "analyze", tmp_path, "--model", "/no/model")
    assert "is a directory" in err


@pytest.mark.parametrize("command", [["predict", "si", TINY_ARTICLE.parent], ["export"]])
def test_outputs_in_a_missing_folder_or_onto_a_folder_are_refused_before_the_work(capsys, tmp_path, command):
    _, err = fails(capsys, *command, "-o", tmp_path / "missing" / "x")
    assert "does not exist" in err
    _, err = fails(capsys, *command, "-o", tmp_path)
    assert "is a folder" in err


def test_a_missing_label_file_is_named(capsys, tmp_path):
    _, err = fails(capsys, "evaluate", "--data", tmp_path, "--labels", tmp_path / "missing.labels")
    assert "missing.labels: no such file or folder" in err


def test_report_csv_onto_an_existing_file_is_refused(capsys, tmp_path):
    existing = tmp_path / "rates.csv"
    existing.write_text("keep me\n")
    _, err = fails(capsys, "report", "--db", tmp_path / "x.db", "--csv", existing)
    assert "is a file" in err and existing.read_text() == "keep me\n"


def test_os_errors_are_one_line_and_unexpected_errors_keep_their_traceback_behind_debug(capsys, monkeypatch):
    def broken(args):
        raise FileNotFoundError(2, "No such file or directory", "/gone/file")

    monkeypatch.setattr(cli, "_techniques", broken)
    _, err = fails(capsys, "techniques")
    assert err == "propscan: error: /gone/file: No such file or directory\n"

    def buggy(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli, "_techniques", buggy)
    _, err = fails(capsys, "techniques")
    assert "unexpected ZeroDivisionError" in err and "--debug" in err
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "techniques"])
    monkeypatch.setenv("PROPSCAN_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["techniques"])


@pytest.mark.parametrize(
    "command",
    [["report"], ["export", "-o", "out.jsonl"], ["batch", TINY_ARTICLE, "--model", "/no/model", "--no-progress"]],
)
def test_a_database_that_is_not_one_is_one_line(capsys, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    notes = tmp_path / "notes.db"
    notes.write_text("my notes, not a database\n")
    _, err = fails(capsys, *command, "--db", notes)
    assert "file is not a database" in err and notes.read_text() == "my notes, not a database\n"
