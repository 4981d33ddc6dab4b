"""Export (JSONL, SemEval TSV, Label Studio) and reading Label Studio annotations back as training data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from propscan import Document, Span
from propscan.batch.export import export
from propscan.batch.store import Store
from propscan.cli import main
from propscan.errors import CorpusFormatError, PropscanError
from propscan.readers.labelstudio import labeling_config, read_labelstudio, to_task, utf16_to_codepoints, write_tasks
from propscan.readers.ptc import parse_label_lines
from propscan.techniques import PTC18, SEMEVAL2020
from tests.analyses import analysis_of

LABEL_STUDIO = Path(__file__).parent / "data" / "labelstudio" / "export.json"

TEXT = "Shameful cowards ran away. Fans 🎉 cheered the true heroes of the nation."
HEROES = TEXT.index("true heroes")
STORED = [
    (
        Document(TEXT, "n1", {"source": "Courier", "date": "2021-05-03", "title": "Cowards"}),
        [
            Span(0, 16, "Name_Calling,Labeling", 0.91),
            Span(0, 8, "Loaded_Language", 0.55),
            Span(HEROES, HEROES + 25, "Flag-Waving", 0.3),
        ],
    ),
    (Document("The bus timetable changes on Monday.", "n2", {"source": "Herald"}), []),
]


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'export.db'}"
    with Store.open(url) as store:
        run = store.get_or_create_run("fast@test", {"threshold": 0.0})
        for document, spans in STORED:
            store.save_analysis(run.id, analysis_of(document, spans, 0.4))
    return url


def test_jsonl(db, tmp_path):
    with Store.open(db) as store:
        _, count, files = export(store, "jsonl", tmp_path / "out.jsonl")
    assert count == 2 and files == [tmp_path / "out.jsonl"]
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    first = records[0]
    assert first["id"] == "n1" and first["metadata"]["source"] == "Courier" and first["model"] == "fast@test"
    assert {(s["start"], s["end"], s["technique"], s["text"]) for s in first["spans"]} == {
        (0, 16, "Name_Calling,Labeling", "Shameful cowards"),
        (0, 8, "Loaded_Language", "Shameful"),
        (HEROES, HEROES + 25, "Flag-Waving", "true heroes of the nation"),
    }
    assert records[1]["spans"] == [] and records[1]["text"] == STORED[1][0].text
    with Store.open(db) as store:  # the shape `propscan analyze --json` prints, sentence scores included
        assert records == [analysis.to_dict() for analysis in store.analyses(1)]
    assert first["sentences"] and first["warnings"] == []


def test_semeval_lines_parse_back(db, tmp_path):
    with Store.open(db) as store:
        export(store, "semeval", tmp_path / "pred.txt", min_score=0.5)
    lines = parse_label_lines(tmp_path / "pred.txt")
    assert sorted((line.article_id, line.technique, line.start, line.end) for line in lines) == [
        ("n1", "Loaded_Language", 0, 8),
        ("n1", "Name_Calling,Labeling", 0, 16),
    ]


def test_semeval_refuses_an_id_that_would_forge_lines(tmp_path):
    """Readers refuse such ids; a database filled another way must not forge lines either (D8)."""
    url = f"sqlite:///{tmp_path / 'forged.db'}"
    with Store.open(url) as store:
        run = store.get_or_create_run("fast@test", {})
        forged = Document("Cowards ran away.", "new\nline\tDoubt\t0\t5")
        store.save_analysis(run.id, analysis_of(forged, [Span(0, 7, "Loaded_Language", 0.9)], 0.4))
        with pytest.raises(PropscanError, match=r"control characters.*export this run as jsonl"):
            export(store, "semeval", tmp_path / "pred.txt")
    assert main(["export", "--db", url, "--format", "semeval", "-o", str(tmp_path / "pred.txt")]) == 1
    assert all(line.count("\t") == 3 for line in (tmp_path / "pred.txt").read_text().splitlines())


def test_label_studio_round_trip(db, tmp_path):
    """Predictions exported as tasks read back, as if accepted unchanged, give the stored spans."""
    with Store.open(db) as store:
        _, count, files = export(store, "label-studio", tmp_path / "tasks.json")
    tasks = json.loads((tmp_path / "tasks.json").read_text(encoding="utf-8"))
    assert count == len(tasks) == 2 and files[1].name == "tasks.label_config.xml"
    assert tasks[0]["data"]["doc_id"] == "n1" and tasks[0]["predictions"][0]["model_version"] == "fast@test"
    assert 'value="Flag-Waving"' in files[1].read_text() and "$text" in files[1].read_text()
    corpus = read_labelstudio(tmp_path / "tasks.json", use_predictions=True)
    assert [d.document for d in corpus] == [
        Document(d.text, d.id, {k: v for k, v in d.metadata.items()}) for d, _ in STORED
    ]
    assert [{(s.start, s.end, s.technique) for s in d.spans} for d in corpus] == [
        {(s.start, s.end, s.technique) for s in spans} for _, spans in STORED
    ]
    assert read_labelstudio(tmp_path / "tasks.json") == []  # nobody annotated: nothing to train on


def test_reading_a_label_studio_export():
    corpus = {d.document.id: d for d in read_labelstudio(LABEL_STUDIO)}
    assert set(corpus) == {"tram-1", "stadium-1", "103"}  # water-1 has only a prediction
    tram = corpus["tram-1"]
    # The latest non-cancelled annotation wins; PTC's Bandwagon maps into SemEval's merged class.
    assert [(tram.document.text[s.start : s.end], s.technique) for s in tram.spans] == [
        ("reckless fantasy", "Loaded_Language"),
        ("out-of-touch bureaucrats", "Name_Calling,Labeling"),
        ("Every sensible person can see it will bankrupt the city", "Bandwagon,Reductio_ad_hitlerum"),
    ]
    assert tram.document.metadata == {"source": "Metro Daily", "date": "2021-09-01"}
    assert corpus["stadium-1"].spans == ()  # annotated as clean: a negative example
    (festival,) = corpus["103"].spans  # offsets counted in UTF-16 after two emoji, converted
    assert corpus["103"].document.text[festival.start : festival.end] == "the greatest party in the history of the town"
    with_predictions = {d.document.id for d in read_labelstudio(LABEL_STUDIO, use_predictions=True)}
    assert "water-1" in with_predictions
    ptc18 = {d.document.id: d for d in read_labelstudio(LABEL_STUDIO, PTC18)}
    assert ptc18["tram-1"].spans[2].technique == "Bandwagon"


@pytest.mark.parametrize(
    "tasks, message",
    [
        ({"not": "a list"}, "'data' object"),
        ([{"data": {"txt": "x"}}], "data.text must hold"),
        (
            [
                {
                    "data": {"text": "abc def"},
                    "annotations": [
                        {
                            "result": [
                                {"type": "labels", "value": {"start": 0, "end": 3, "text": "abd", "labels": ["Doubt"]}}
                            ]
                        }
                    ],
                }
            ],
            "Label Studio recorded 'abd'",
        ),
        (
            [
                {
                    "data": {"text": "abc def"},
                    "annotations": [
                        {"result": [{"type": "labels", "value": {"start": 0, "end": 3, "labels": ["Sarcasm"]}}]}
                    ],
                }
            ],
            "unknown technique 'Sarcasm'",
        ),
        (
            [
                {
                    "data": {"text": "abc"},
                    "annotations": [
                        {"result": [{"type": "labels", "value": {"start": 2, "end": 9, "labels": ["Doubt"]}}]}
                    ],
                }
            ],
            "outside the text",
        ),
        (
            [
                {"data": {"text": "a", "doc_id": "x"}, "annotations": [{"result": []}]},
                {"data": {"text": "b", "doc_id": "x"}, "annotations": [{"result": []}]},
            ],
            "share the document id",
        ),
    ],
)
def test_malformed_exports_name_the_task(tmp_path, tasks, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(tasks), encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=message) as error:
        read_labelstudio(path)
    assert str(path) in str(error.value)


def test_utf16_offsets():
    text = "a🎉b"
    assert [utf16_to_codepoints(text, i) for i in (0, 1, 3, 4)] == [0, 1, 2, 3]


def test_tasks_stream_and_config(tmp_path):
    document, spans = STORED[0]
    count = write_tasks(tmp_path / "t.json", (to_task(document, spans) for _ in range(3)))
    assert count == 3 and len(json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))) == 3
    assert labeling_config(SEMEVAL2020).count("<Label ") == 14


def test_export_command(db, tmp_path, capsys):
    assert main(["export", "--db", db, "--format", "label-studio", "-o", str(tmp_path / "tasks.json")]) == 0
    assert "2 documents" in capsys.readouterr().err
    assert main(["export", "--db", db, "--format", "semeval", "--run", "9", "-o", str(tmp_path / "x.txt")]) == 1
    assert "no run 9" in capsys.readouterr().err


@pytest.mark.slow  # trains a model
def test_train_reads_a_label_studio_export(tmp_path, capsys):
    """``propscan train --format label-studio`` fits and saves a model from the annotated tasks."""
    from propscan import Analyzer

    output = tmp_path / "model"
    code = main(
        [
            "train",
            "--format",
            "label-studio",
            "--data",
            str(LABEL_STUDIO),
            "--model",
            "fast",
            "--epochs",
            "1",
            "--validation-fraction",
            "0",
            "--output",
            str(output),
        ]
    )
    assert code == 0
    assert "3 training, 0 validation and 0 test articles" in capsys.readouterr().err
    analyzer = Analyzer.load(output)
    assert analyzer.model.config.labels == list(SEMEVAL2020.labels)
    analysis = analyzer.analyze("Opponents called the plan a reckless fantasy dreamed up by bureaucrats.")
    assert all(span.technique in SEMEVAL2020 for span in analysis.spans)
