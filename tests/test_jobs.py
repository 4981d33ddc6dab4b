"""Batch jobs: every document stored exactly once, resumable after SIGKILL, failures recorded, same results on every engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from propscan import Document
from propscan.batch.jobs import AnalyzerSpec, analyze_batch, make_engine, run_batch
from propscan.batch.store import Store
from propscan.batch.store.tables import AnalysisRow, SpanRow
from propscan.errors import PropscanError, UnknownTechniqueError
from propscan.readers.sources import read_sources
from tests import pg_cluster
from tests.shipped import MODEL, needs_model

BATCH = Path(__file__).parent / "data" / "batch"
ROOT = Path(__file__).resolve().parents[1]
pytestmark = needs_model


@pytest.fixture(scope="module")
def analyzer():
    from propscan import Analyzer

    return Analyzer.load(MODEL)


def snapshot(url: str) -> dict:
    """What a database holds for its only run: per document its text, score and spans; and the failures."""
    with Store.open(url) as store:
        (run,) = store.runs()
        analyses = {
            a.document.id: (
                a.document.text,
                round(a.score, 6),
                sorted((s.start, s.end, s.technique, round(s.score, 6)) for s in a.spans),
            )
            for a in store.analyses(run.id)
        }
        failures = {f.id: f.error for f in store.failures(run.id)}
        return {"model": run.model, "analyses": analyses, "failures": failures}


def corpus_folder(tmp_path: Path, n: int) -> Path:
    """``n`` short articles of our own, each different, for the kill-and-resume test."""
    folder = tmp_path / "corpus" / "gazette"
    folder.mkdir(parents=True)
    towns = ["Ashford", "Brampton", "Calder", "Dunmore", "Elmstead", "Fenwick", "Garrow", "Holt", "Irwell", "Jarrow"]
    for i in range(n):
        town = towns[i % len(towns)]
        (folder / f"story-{i:02d}.txt").write_text(
            f"{town} council story number {i}\n\n"
            f"The council in {town} voted {i + 3} to {i % 4} on Wednesday to close the old swimming pool. "
            "Campaigners called the decision a shameful betrayal by greedy politicians who never listen. "
            f"The pool opened in {1950 + i} and needs repairs that would cost more than a new building.\n",
            encoding="utf-8",
        )
    return folder


def test_batch_stores_each_document_once_and_records_failures(tmp_path, analyzer):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    summary = run_batch([BATCH], db=url, model=MODEL, analyzer=analyzer, batch_size=4)
    # 15 records: 10 articles (one appears twice, as .txt and in the JSONL) and 5 bad records.
    assert (summary.analyzed, summary.failed, summary.skipped) == (9, 5, 1)
    state = snapshot(url)
    assert len(state["analyses"]) == 9 and state["model"] == analyzer.name
    assert {"wire-003", "valley-empty"} <= set(state["failures"])
    assert any("not valid UTF-8" in error for error in state["failures"].values())
    # What is stored is what the analyzer finds in the same batches.
    documents = [d for d in read_sources([BATCH]) if isinstance(d, Document)]
    unique = [d for i, d in enumerate(documents) if d.id not in {e.id for e in documents[:i]}]
    expected = {}
    for first in range(0, len(unique), 4):
        for outcome in analyze_batch(analyzer, unique[first : first + 4], AnalyzerSpec(model=MODEL)):
            expected[outcome.document.id] = sorted(
                (s.start, s.end, s.technique, round(s.score, 6)) for s in outcome.spans
            )
    assert {i: a[2] for i, a in state["analyses"].items()} == expected
    assert summary.spans == sum(len(spans) for spans in expected.values()) > 0

    again = run_batch([BATCH], db=url, model=MODEL, analyzer=analyzer, batch_size=4)
    # What failed before is not "already done": the run is still incomplete.
    assert (again.analyzed, again.failed, again.skipped, again.failed_before) == (0, 0, 10, 5)
    assert not again.complete
    assert snapshot(url) == state
    retried = run_batch([BATCH], db=url, model=MODEL, analyzer=analyzer, retry_failed=True)
    assert (retried.analyzed, retried.failed) == (0, 5)


def test_new_options_make_a_new_run(tmp_path, analyzer):
    url = f"sqlite:///{tmp_path / 'o.db'}"
    first = run_batch([BATCH / "feeds"], db=url, model=MODEL, analyzer=analyzer)
    second = run_batch(
        [BATCH / "feeds"], db=url, model=MODEL, analyzer=analyzer, threshold=0.5, techniques=["Loaded_Language"]
    )
    assert first.run.id != second.run.id and second.analyzed == 3
    assert second.run.options == {"threshold": 0.5, "techniques": ["Loaded_Language"]}
    with Store.open(url) as store, store.sessions() as session:
        techniques = set(session.scalars(select(SpanRow.technique).where(SpanRow.run_id == second.run.id)))
        assert techniques <= {"Loaded_Language"}
        scores = list(session.scalars(select(SpanRow.score).where(SpanRow.run_id == second.run.id)))
        assert all(score >= 0.5 for score in scores)


def test_techniques_by_any_name_make_the_same_run_and_unknown_ones_are_refused_first(tmp_path, analyzer):
    url = f"sqlite:///{tmp_path / 't.db'}"
    by_label = run_batch([BATCH / "feeds"], db=url, model=MODEL, analyzer=analyzer, techniques=["Loaded_Language"])
    by_name = run_batch([BATCH / "feeds"], db=url, model=MODEL, analyzer=analyzer, techniques="loaded language")
    assert by_name.run.id == by_label.run.id and by_name.analyzed == 0
    assert (by_name.skipped, by_name.failed_before) == (3, 1)  # the feeds' entry without content failed the first time
    with pytest.raises(UnknownTechniqueError, match="unknown technique 'Nope'"):
        run_batch(
            [BATCH / "feeds"], db=f"sqlite:///{tmp_path / 'n.db'}", model=MODEL, analyzer=analyzer, techniques="Nope"
        )
    assert not (tmp_path / "n.db").exists()


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _analyzed(url: str) -> int:
    try:
        with Store.open(url, migrate=False) as store, store.sessions() as session:
            return session.scalar(select(func.count()).select_from(AnalysisRow)) or 0
    except Exception:
        return 0


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the worker processes")
def test_sigkill_then_rerun_finishes_with_every_document_once(tmp_path):
    """Kill -9 a two-worker job in the middle, run the same command again: the database ends complete, no duplicates."""
    folder = corpus_folder(tmp_path, 16)
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    command = [
        sys.executable,
        "-m",
        "propscan.cli",
        "batch",
        str(folder),
        "--db",
        url,
        "--model",
        MODEL,
        "--workers",
        "2",
        "--batch-size",
        "1",
        "--no-progress",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    job = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while _analyzed(url) < 3:
        assert job.poll() is None, f"the job ended before it could be killed: {job.stderr.read().decode()}"
        assert time.monotonic() < deadline, "the job analyzed nothing in time"
        time.sleep(0.05)
    workers = _children(job.pid)
    job.send_signal(signal.SIGKILL)
    job.wait()
    done_when_killed = _analyzed(url)
    assert 3 <= done_when_killed < 16, "the kill came too late to test resuming"
    # The spawned workers notice their parent is gone and exit instead of lingering.
    deadline = time.monotonic() + 20
    while any(
        Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]
        for pid in workers
    ):
        assert time.monotonic() < deadline, "worker processes outlived the killed job"
        time.sleep(0.2)

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{16 - done_when_killed} analyzed" in rerun.stderr or f"{done_when_killed} already done" in rerun.stderr
    killed = snapshot(url)
    assert len(killed["analyses"]) == 16 and not killed["failures"]
    assert any(spans for _, _, spans in killed["analyses"].values())
    with Store.open(url) as store, store.sessions() as session:
        pairs = session.execute(select(SpanRow.document_id, SpanRow.start, SpanRow.end, SpanRow.technique)).all()
        assert len(pairs) == len(set(pairs)), "a span was stored twice"

    # The same corpus in one uninterrupted run gives the same database.
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    run_batch([folder], db=clean, model=MODEL, batch_size=1)
    assert snapshot(clean) == killed


def test_two_local_workers_and_ray_match_one_worker(tmp_path, analyzer):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    one = f"sqlite:///{tmp_path / 'one.db'}"
    two = f"sqlite:///{tmp_path / 'two.db'}"
    ray = f"sqlite:///{tmp_path / 'ray.db'}"
    run_batch([BATCH], db=one, model=MODEL, analyzer=analyzer, threads=1)
    run_batch([BATCH], db=two, model=MODEL, workers=2, threads=1)
    summary = run_batch([BATCH], db=ray, model=MODEL, engine="ray", workers=2, threads=1)
    assert summary.analyzed == 9 and summary.failed == 5
    assert snapshot(one) == snapshot(two) == snapshot(ray)
    assert sum(len(a[2]) for a in snapshot(one)["analyses"].values()) > 0


def test_postgresql_holds_the_same_as_sqlite(tmp_path, analyzer):
    sqlite = f"sqlite:///{tmp_path / 's.db'}"
    postgres = pg_cluster.fresh_database()
    run_batch([BATCH / "outlets", BATCH / "news.jsonl"], db=sqlite, model=MODEL, analyzer=analyzer)
    summary = run_batch([BATCH / "outlets", BATCH / "news.jsonl"], db=postgres, model=MODEL, analyzer=analyzer)
    assert summary.analyzed == 6
    assert snapshot(postgres) == snapshot(sqlite)


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    engine = make_engine("ray", AnalyzerSpec(model=MODEL))
    with pytest.raises(PropscanError, match=r"pip install propscan\[ray\]"):
        engine.start()


def test_bad_arguments(tmp_path):
    with pytest.raises(PropscanError, match="unknown engine"):
        make_engine("spark", AnalyzerSpec())
    with pytest.raises(PropscanError, match="no such file"):
        run_batch([tmp_path / "missing"], db=f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(PropscanError, match="at least 1"):
        run_batch([BATCH], workers=0)


def test_batch_command(tmp_path, analyzer, capsys):
    from propscan.cli import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["batch", str(BATCH / "feeds" / "hill.atom"), "--db", url, "--model", MODEL, "--no-progress"]) == 0
    assert "1 analyzed, 0 failed, 0 already done" in capsys.readouterr().err
    # Anything failed: non-zero, now and on a rerun, with the summary in one line.
    assert main(["batch", str(BATCH / "feeds"), "--db", url, "--model", MODEL, "--no-progress"]) == 1
    assert "2 analyzed, 1 failed, 1 already done" in capsys.readouterr().err
    assert main(["batch", str(BATCH / "feeds"), "--db", url, "--model", MODEL, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "0 analyzed, 0 failed, 1 failed before (--retry-failed tries them again), 3 already done" in err


def test_batch_of_urls_resumes_without_fetching_again(tmp_path, analyzer, capsys):
    from propscan.cli import main
    from tests.page_server import REQUESTS, serving

    url = f"sqlite:///{tmp_path / 'urls.db'}"
    with serving() as site:
        urls = tmp_path / "urls.txt"
        urls.write_text(f"{site}/article.html\n{site}/latin-meta.html\n{site}/missing\n", encoding="utf-8")
        command = ["batch", "--urls", str(urls), "--db", url, "--model", MODEL, "--no-progress"]
        assert main(command) == 1  # one page failed
        assert "2 analyzed, 1 failed, 0 already done" in capsys.readouterr().err
        before = len(REQUESTS)
        assert main(command) == 1
        assert (
            "0 analyzed, 0 failed, 1 failed before (--retry-failed tries them again), 2 already done"
            in capsys.readouterr().err
        )
        assert len(REQUESTS) == before  # nothing fetched twice
    state = snapshot(url)
    assert set(state["analyses"]) == {f"{site}/article.html", f"{site}/latin-meta.html"}
    assert "Café" in state["analyses"][f"{site}/latin-meta.html"][0]
    assert "HTTP 404" in state["failures"][f"{site}/missing"]


def test_batch_without_inputs_is_a_clear_error(capsys):
    from propscan.cli import main

    assert main(["batch", "--no-progress"]) == 1
    assert "batch needs inputs" in capsys.readouterr().err


def test_bad_records_are_recorded_and_the_run_goes_on(tmp_path, analyzer):
    """A lone surrogate, a forged id, a corrupt and a truncated crawl: failures, and the good records stored."""
    from tests.test_sources import FORGED, GOOD_LINE, bad_warcs

    lines = tmp_path / "lines.jsonl"
    lines.write_text(
        '{"id":"j3","text":"\\ud800 x"}\n'
        + json.dumps({"id": FORGED, "text": "The vote was on Tuesday."})
        + "\n"
        + GOOD_LINE
        + "\n"
    )
    flipped, truncated = bad_warcs(tmp_path)
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    summary = run_batch([lines, flipped, truncated], db=url, model=MODEL, analyzer=analyzer)
    assert (summary.analyzed, summary.failed) == (2, 4)
    state = snapshot(url)
    assert "j4" in state["analyses"] and FORGED not in state["failures"]
    errors = " ".join(state["failures"].values())
    assert (
        "unpaired surrogate" in errors
        and "control characters" in errors
        and "corrupt data" in errors
        and "not a whole record" in errors
    )
    again = run_batch([lines, flipped, truncated], db=url, model=MODEL, analyzer=analyzer)
    assert (again.analyzed, again.failed, again.skipped, again.failed_before) == (0, 0, 2, 4)


def test_a_batch_where_every_document_fails_exits_non_zero(tmp_path, capsys, monkeypatch):
    from propscan.batch.jobs import engines
    from propscan.cli import main

    def broken(analyzer, documents, spec):
        return [engines.failure(d, "ModuleNotFoundError: No module named 'torch'") for d in documents]

    monkeypatch.setattr(engines, "analyze_batch", broken)
    url = f"sqlite:///{tmp_path / 'all-failed.db'}"
    argv = ["batch", str(BATCH / "feeds" / "hill.atom"), "--db", url, "--model", MODEL, "--no-progress"]
    assert main(argv) == 1
    assert "0 analyzed, 1 failed" in capsys.readouterr().err
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "1 failed before" in err and "0 already done" in err
