"""Corpus readers: every format yields documents with stable ids and normalized metadata, bad records become failures."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from propscan import Document
from propscan.readers.sources import Failure, SourceError, content_id, count_records, parse_date, read_sources

BATCH = Path(__file__).parent / "data" / "batch"
HERALD_PORT = BATCH / "outlets" / "herald" / "port-strike.html"


def write_warc(path: Path) -> Path:
    """A small gzipped WARC: an article, an image, a latin-1 page, a page with no text, a request."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    latin = (
        "<html><body><article><p>Café owners say the new terrace rules are a disaster for the whole "
        "street and that the council never listened to them.</p></article></body></html>"
    ).encode("latin-1")
    records = [
        ("https://herald.example/port", HERALD_PORT.read_bytes(), "text/html; charset=utf-8", "response"),
        ("https://herald.example/logo.png", b"\x89PNG\r\n\x1a\n", "image/png", "response"),
        ("https://herald.example/cafe", latin, "text/html; charset=ISO-8859-1", "response"),
        ("https://herald.example/blank", b"<html><body></body></html>", "text/html", "response"),
    ]

    def fixed(k: int) -> dict[str, str]:
        # The same bytes every run: bad_warcs flips and cuts them at fixed places.
        return {"WARC-Record-ID": f"<urn:uuid:00000000-0000-4000-8000-{k:012d}>", "WARC-Date": "2024-05-01T00:00:00Z"}

    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        for k, (url, body, content_type, kind) in enumerate(records):
            headers = StatusAndHeaders("200 OK", [("Content-Type", content_type)], protocol="HTTP/1.1")
            writer.write_record(
                writer.create_warc_record(
                    url, kind, payload=io.BytesIO(body), http_headers=headers, warc_headers_dict=fixed(k)
                )
            )
        request = StatusAndHeaders("GET /port HTTP/1.1", [("Host", "herald.example")], is_http_request=True)
        writer.write_record(
            writer.create_warc_record(
                "https://herald.example/port",
                "request",
                payload=io.BytesIO(b""),
                http_headers=request,
                warc_headers_dict=fixed(len(records)),
            )
        )
    return path


def by_origin(items):
    return {
        Path(item.metadata.get("origin", item.origin if isinstance(item, Failure) else "")).name: item for item in items
    }


def test_folder_reads_text_and_html_and_records_bad_files():
    items = list(read_sources([BATCH / "outlets"]))
    documents = [i for i in items if isinstance(i, Document)]
    failures = [i for i in items if isinstance(i, Failure)]
    assert len(documents) == 4 and len(failures) == 2
    errors = " ".join(f.error for f in failures)
    assert "empty" in errors and "not valid UTF-8" in errors
    bridge = next(d for d in documents if d.text.startswith("Council delays"))
    assert bridge.id == content_id(bridge.text)  # no id in the format: a hash of the text
    assert bridge.metadata["source"] == "courier"  # the folder names the outlet
    assert bridge.metadata["title"] == "Council delays bridge vote again"
    port = next(d for d in documents if "Dock workers" in d.text)
    assert port.metadata["source"] == "The Harbour Herald"  # the page's site name wins
    assert port.metadata["date"] == "2021-05-14"
    assert port.metadata["title"] == "Port strike enters second week"
    assert "<p>" not in port.text


def test_ptc_article_names_keep_their_ids(tmp_path):
    (tmp_path / "article123456.txt").write_text(
        "Title\n\nA short article body about a local election.\n", encoding="utf-8"
    )
    (document,) = read_sources([tmp_path])
    assert document.id == "123456"


def test_jsonl_keeps_given_ids_metadata_and_reports_bad_lines():
    items = list(read_sources([BATCH / "news.jsonl"]))
    assert [type(i).__name__ for i in items] == ["Document", "Document", "Failure", "Failure", "Document"]
    wind, rail, empty, not_json, copy = items
    assert wind.id == "wire-001" and wind.metadata["url"] == "https://wire.example/wind-farm"
    assert wind.metadata["source"] == "Coastal Wire" and wind.metadata["date"] == "2021-05-20"
    assert rail.id == "wire-002" and rail.text.startswith("Rail fares frozen") and "<p>" not in rail.text
    assert rail.metadata["date"] == "2021-06-07"  # RFC 2822 normalized to ISO
    assert empty.id == "wire-003" and "empty" in empty.error
    assert not_json.origin.endswith("news.jsonl:4") and "not a JSON object" in not_json.error
    assert copy.id == content_id(copy.text)  # no id given: hashed, equal to the same article's .txt
    assert copy.id == content_id((BATCH / "outlets" / "courier" / "bridge-vote.txt").read_text(encoding="utf-8"))


def test_jsonl_record_without_text_or_html_is_a_failure(tmp_path):
    path = tmp_path / "odd.jsonl"
    path.write_text(json.dumps({"id": "x1", "body": "wrong key"}) + "\n" + json.dumps([1, 2]) + "\n", encoding="utf-8")
    first, second = read_sources([path])
    assert isinstance(first, Failure) and first.id == "x1" and "'text' or 'html'" in first.error
    assert isinstance(second, Failure) and "expected a JSON object" in second.error


def test_rss_and_atom_entries():
    items = list(read_sources([BATCH / "feeds" / "valley.rss", BATCH / "feeds" / "hill.atom"]))
    hospital, market, empty, quarry = items
    assert hospital.id == "https://valley.example/hospital-wing"
    assert hospital.metadata["source"] == "Valley Voice" and hospital.metadata["date"] == "2021-07-13"
    assert hospital.text.startswith("Hospital wing opens after delays\n\n")
    assert "Only a fool would believe" in hospital.text and "<p>" not in hospital.text
    assert market.id == "valley-market-2021" and "forty stalls" in market.text
    assert isinstance(empty, Failure) and empty.id == "valley-empty"
    assert quarry.id == "urn:hill-times:quarry" and quarry.metadata["source"] == "Hill Times"
    assert quarry.metadata["date"] == "2021-08-09" and "noisy minority" in quarry.text


def test_warc_reads_html_responses_only(tmp_path):
    warc = write_warc(tmp_path / "crawl.warc.gz")
    items = list(read_sources([warc]))
    assert len(items) == 3  # the image and the request are passed over
    port, cafe, blank = items
    assert port.id == content_id(port.text) and "Dock workers" in port.text
    assert port.metadata["url"] == "https://herald.example/port" and port.metadata["date"] == "2021-05-14"
    assert "crawled" in port.metadata and port.metadata["origin"].startswith(str(warc))
    assert "Café owners" in cafe.text  # decoded with the charset the HTTP header declares
    assert cafe.metadata["source"] == "herald.example"  # no site name: the host
    assert isinstance(blank, Failure) and "no article text" in blank.error
    assert count_records([warc]) == 3


def test_same_article_in_two_formats_gets_one_id(tmp_path):
    warc = write_warc(tmp_path / "crawl.warc.gz")
    from_folder = next(d for d in read_sources([BATCH / "outlets" / "herald"]) if "Dock workers" in d.text)
    from_warc = next(iter(read_sources([warc])))
    assert from_folder.id == from_warc.id


def test_ids_are_stable_across_reads():
    first = [item.id for item in read_sources([BATCH])]
    second = [item.id for item in read_sources([BATCH])]
    assert first == second and len(first) == 15


def test_count_matches_records():
    inputs = [BATCH / "outlets", BATCH / "news.jsonl", BATCH / "feeds"]
    assert count_records(inputs) == len(list(read_sources(inputs)))


def test_unknown_or_missing_input_is_an_error(tmp_path):
    (tmp_path / "notes.docx").write_bytes(b"PK")
    with pytest.raises(SourceError, match="cannot tell the format"):
        list(read_sources([tmp_path / "notes.docx"]))
    with pytest.raises(SourceError, match="no such file"):
        count_records([tmp_path / "missing"])


def test_oversized_article_is_a_failure(tmp_path):
    (tmp_path / "big.txt").write_text("word " * 100, encoding="utf-8")
    (item,) = read_sources([tmp_path], max_bytes=100)
    assert isinstance(item, Failure) and "above the limit" in item.error


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2021-03-04", "2021-03-04"),
        ("2021-03-04T22:10:00Z", "2021-03-04"),
        ("Thu, 04 Mar 2021 10:00:00 +0000", "2021-03-04"),
        ("2021-02-30", None),
        ("last Tuesday", None),
        (None, None),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value) == expected


@pytest.fixture(scope="module")
def site():
    from tests.page_server import serving

    with serving() as base:
        yield base


def url_list(tmp_path: Path, site: str) -> Path:
    path = tmp_path / "urls.txt"
    path.write_text(
        f"# pages to read\n{site}/article.html\n\n{site}/latin-header.html\nnot a url\n{site}/missing\n{site}/article.html\n",
        encoding="utf-8",
    )
    return path


def test_url_list_fetches_each_page_and_records_failures(tmp_path, site):
    path = url_list(tmp_path, site)
    items = list(read_sources([], urls=[path]))
    assert [type(i).__name__ for i in items] == ["Document", "Document", "Failure", "Failure", "Document"]
    article, latin = items[0], items[1]
    assert article.id == article.metadata["url"] == f"{site}/article.html"  # the id is known before fetching
    assert article.metadata["origin"] == f"{path}:2" and article.metadata["source"] == "127.0.0.1"
    assert "Café" in latin.text
    assert "not an http:// or https:// URL" in items[2].error and "HTTP 404" in items[3].error
    assert count_records([], urls=[path]) == 5
    (named, *_) = read_sources([], urls=[path], source="Harbour Herald")
    assert named.metadata["source"] == "Harbour Herald"  # --source comes before the URL's host


def test_url_list_passes_over_known_urls_without_fetching(tmp_path, site):
    from tests.page_server import REQUESTS

    path = url_list(tmp_path, site)
    before = len(REQUESTS)
    items = list(read_sources([], urls=[path], known={f"{site}/article.html", f"{site}/missing"}))
    assert [type(i).__name__ for i in items] == ["Known", "Document", "Failure", "Known", "Known"]
    assert REQUESTS[before:] == ["/latin-header.html"]


def test_missing_url_list_is_an_error(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        count_records([], urls=[tmp_path / "urls.txt"])


def test_sidecar_and_source_option_set_a_text_files_metadata(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "a.txt").write_text("Plain headline\n\nThe council voted on Tuesday to close the pool.", encoding="utf-8")
    (folder / "b.txt").write_text("The mayor said the bridge will open in May.", encoding="utf-8")
    (folder / "b.json").write_text(
        '{"date": "2024-05-01T09:30:00Z", "source": "Herald", "title": "Bridge"}', encoding="utf-8"
    )
    (folder / "c.txt").write_text("The harbour will close for a week.", encoding="utf-8")
    (folder / "c.json").write_text("[1, 2]", encoding="utf-8")
    items = {
        Path(i.metadata.get("origin", getattr(i, "origin", ""))).name: i for i in read_sources([folder], source="Wire")
    }
    assert items["a.txt"].metadata["source"] == "Wire" and items["a.txt"].metadata["title"] == "Plain headline"
    assert "date" not in items["a.txt"].metadata
    assert {k: items["b.txt"].metadata[k] for k in ("source", "title", "date")} == {
        "source": "Herald",
        "title": "Bridge",
        "date": "2024-05-01",
    }
    assert isinstance(items["c.txt"], Failure) and "expected a JSON object" in items["c.txt"].error
    (default,) = [i for i in read_sources([folder / "a.txt"])]
    assert default.metadata["source"] == "inbox"  # without --source, the folder names the outlet


def test_warc_page_without_a_header_charset_uses_its_meta_tag(tmp_path):
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from tests.page_server import article_html

    warc = tmp_path / "meta.warc.gz"
    with warc.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        payload = io.BytesIO(article_html("iso-8859-1", meta=True))
        writer.write_record(
            writer.create_warc_record("https://quay.example/cafe", "response", payload=payload, http_headers=headers)
        )
    (page,) = read_sources([warc])
    assert "Café" in page.text


# ----------------------------------------------------------------------------- bad records (D6, D8)
GOOD_LINE = json.dumps({"id": "j4", "text": "The council voted on Tuesday to repair the bridge before winter."})


def bad_warcs(folder: Path) -> tuple[Path, Path]:
    """The fixture crawl with two bytes flipped inside its first record, and cut off inside its third."""
    data = write_warc(folder / "crawl.warc.gz").read_bytes()
    flipped = bytearray(data)
    for i in (len(data) // 3, len(data) // 3 + 1):
        flipped[i] ^= 0xFF
    (folder / "flipped.warc.gz").write_bytes(bytes(flipped))
    (folder / "truncated.warc.gz").write_bytes(data[: int(len(data) * 0.6)])
    return folder / "flipped.warc.gz", folder / "truncated.warc.gz"


def test_a_lone_surrogate_in_jsonl_is_a_failure_and_the_next_line_is_read(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"id":"j3","text":"\\ud800 x"}\n' + GOOD_LINE + "\n", encoding="utf-8")
    failure, good = read_sources([path])
    assert isinstance(failure, Failure) and "unpaired surrogate" in failure.error
    failure.id.encode("utf-8")  # storable
    assert isinstance(good, Document) and good.id == "j4"
    assert count_records([path]) == 2


def test_a_corrupt_warc_is_one_failure_not_an_exception(tmp_path):
    flipped, _ = bad_warcs(tmp_path)
    items = list(read_sources([flipped]))
    assert [type(i) for i in items] == [Failure] and "corrupt data" in items[0].error
    assert count_records([flipped]) == len(items)


def test_a_truncated_warc_keeps_its_whole_records_and_reports_the_rest(tmp_path):
    _, truncated = bad_warcs(tmp_path)
    items = list(read_sources([truncated]))
    assert [type(i) for i in items] == [Document, Failure]
    assert "not a whole record" in items[1].error and items[1].origin.startswith(f"{truncated}@")
    assert count_records([truncated]) == 2
    assert [i.id for i in read_sources([truncated])] == [i.id for i in items]  # a rerun finds the same failure


def test_a_record_cut_inside_its_page_is_a_failure_not_half_an_article(tmp_path):
    data = write_warc(tmp_path / "crawl.warc.gz").read_bytes()
    (tmp_path / "cut.warc.gz").write_bytes(data[: int(len(data) * 0.2)])
    (item,) = read_sources([tmp_path / "cut.warc.gz"])
    assert isinstance(item, Failure) and "cut short" in item.error


FORGED = "new\nline\tDoubt\t0\t5"


def test_ids_with_control_characters_are_refused(tmp_path):
    path = tmp_path / "forged.jsonl"
    path.write_text(
        json.dumps({"id": FORGED, "text": "Some article text about the town council."}) + "\n", encoding="utf-8"
    )
    (item,) = read_sources([path])
    assert isinstance(item, Failure) and "control characters" in item.error
    assert "\n" not in item.id and "\t" not in item.id and "\\n" in item.error
    feed = tmp_path / "forged.rss"
    feed.write_text(
        "<rss version='2.0'><channel><title>T</title><item><guid>new&#10;line&#9;Doubt&#9;0&#9;5</guid>"
        "<description>Some article text about the town council and its vote.</description></item></channel></rss>",
        encoding="utf-8",
    )
    (item,) = read_sources([feed])
    assert isinstance(item, Failure) and "control characters" in item.error and "\t" not in item.id
