"""Reading corpora for batch analysis: folders, JSONL, WARC crawls, RSS/Atom feeds and lists of URLs.

Every reader yields ``Document`` objects with a stable id, or a ``Failure`` for a record that
cannot be analyzed; one bad record never stops a corpus. Ids are the one the format gives (JSONL
``id``, feed entry id, PTC ``article<ID>.txt`` name) or else a hash of the article text, so the
same article read twice, from the same or different files, is analyzed once.

Metadata is normalized to ``source`` (the outlet), ``title``, ``url`` and ``date`` (ISO
``YYYY-MM-DD`` when it can be parsed) plus ``origin`` (where the record came from), so reports
can group by outlet and month whatever the input format. A ``.txt`` or ``.html`` file may have a
sidecar, ``article.json`` beside ``article.txt``, whose fields override what the file gives.
"""

from __future__ import annotations

import datetime as dt
import email.message
import email.utils
import hashlib
import json
import logging
import re
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from propscan.document import CONTROL_CHARACTERS, Document
from propscan.errors import InputError, PropscanError
from propscan.readers.fetch import is_url
from propscan.readers.ingest import HTML_SUFFIXES, check_text, decode, decode_html, from_html, looks_like_html, read_url
from propscan.readers.ptc import ptc_article_id
from propscan.settings import input_limit

logger = logging.getLogger(__name__)

_TEXT_SUFFIXES = {".txt"}
_JSONL_SUFFIXES = {".jsonl", ".ndjson"}
_WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")
_FEED_SUFFIXES = {".rss", ".atom", ".xml"}


@dataclass(frozen=True)
class Failure:
    """A record that could not become a document, with why.

    Attributes:
        id: the record's stable id (its given id, else a hash of its raw bytes).
        origin: where it was read, e.g. ``feed.xml#3`` or ``crawl.warc.gz@1024``.
        error: what was wrong, in words a user can act on.
    """

    id: str
    origin: str
    error: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Known:
    """A URL the run already holds: passed over by its id, without fetching the page again."""

    id: str


Item = Document | Failure | Known


class SourceError(PropscanError):
    """An input cannot be read at all (missing path, unknown format)."""


def content_id(text: str) -> str:
    """The stable id of an article without one: the first 20 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def read_sources(
    inputs: Iterable[str | Path],
    *,
    urls: Iterable[str | Path] = (),
    max_bytes: int | None = None,
    source: str | None = None,
    known: Container[str] = frozenset(),
) -> Iterator[Item]:
    """Yield the documents (and failures) of every input, each input by its kind, then of the URL lists.

    Args:
        urls: files listing one URL a line; each page is fetched, unless its URL is in ``known``.
        source: the outlet of ``.txt`` files (instead of their folder's name) and of pages that
            do not name their site.
        known: ids the run already holds (only URL lists use it: the others cost no fetch).

    Raises:
        SourceError: if an input does not exist or its format cannot be told from its name.
    """
    for path in map(Path, inputs):
        yield from _reader(path)(path, max_bytes=max_bytes, source=source)
    for path in map(Path, urls):
        yield from read_url_list(_existing(path), max_bytes=max_bytes, source=source, known=known)


def count_records(inputs: Iterable[str | Path], *, urls: Iterable[str | Path] = ()) -> int:
    """How many records the inputs hold, cheaply (no extraction, no fetch): the progress bar's total.

    Raises:
        SourceError: as ``read_sources``.
    """
    total = sum(_COUNTERS[_reader(path)](path) for path in map(Path, inputs))
    return total + sum(len(_url_lines(_existing(path))) for path in map(Path, urls))


# --------------------------------------------------------------------------------- folders
def read_folder(folder: Path, *, max_bytes: int | None = None, source: str | None = None) -> Iterator[Item]:
    """Every file under ``folder`` (recursively, in path order) whose name says a known format.

    ``.txt`` and ``.html`` files are articles; ``.jsonl``, WARC and feed files found inside are
    read as such, so one folder can hold a mixed corpus.
    """
    for path in _folder_files(folder):
        yield from _reader(path)(path, max_bytes=max_bytes, source=source)


def read_file(path: Path, *, max_bytes: int | None = None, source: str | None = None) -> Item:
    """One ``.txt`` or ``.html`` file; the outlet defaults to ``source``, else the name of its folder.

    A text file's first line is its title when a blank line follows it (the usual news layout).
    A sidecar ``<name>.json`` beside the file sets any of ``source``, ``title``, ``date``,
    ``url``, ``author``, overriding the rest.
    """
    limit = input_limit(max_bytes)
    origin = str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        return Failure(_bytes_id(str(path).encode()), origin, f"cannot read {path}: {error.strerror}")
    try:
        is_html = path.suffix.lower() in HTML_SUFFIXES
        given = ptc_article_id(path)
        text = (
            decode_html(data, source=origin, max_bytes=limit)
            if is_html
            else decode(data, source=origin, max_bytes=limit)
        )
        document = from_html(text, source=origin) if is_html else Document(text=text)
        sidecar = read_sidecar(path)
    except InputError as error:
        return Failure(_bytes_id(data), origin, str(error))
    metadata = dict(document.metadata)
    if not is_html and (title := _first_line_title(document.text)):
        metadata["title"] = title
    metadata = _normalized({**metadata, **sidecar}, origin=origin, default_source=source or path.parent.name)
    ident = given or content_id(document.text)
    return Document(text=document.text, id=ident, metadata=metadata)


def read_sidecar(path: Path) -> dict[str, Any]:
    """The metadata of ``article.json`` beside ``article.txt``; empty when there is none.

    Raises:
        InputError: if the sidecar is not a JSON object.
    """
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        data = json.loads(sidecar.read_bytes())
    except (OSError, ValueError) as error:
        raise InputError(f"{sidecar}: not a readable JSON object ({error})") from None
    if not isinstance(data, dict):
        raise InputError(f'{sidecar}: expected a JSON object such as {{"date": "2024-05-01", "source": "Herald"}}')
    return {k: v for k, v in data.items() if v not in (None, "")}


def _first_line_title(text: str) -> str | None:
    """News text files (PTC's among them) put the headline on the first line, then a blank line."""
    head, _, rest = text.lstrip().partition("\n")
    return head.strip() if head.strip() and len(head) <= 200 and rest.startswith(("\n", "\r\n")) else None


def _folder_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and _known(p))


def _known(path: Path) -> bool:
    name = path.name.lower()
    return (
        name.endswith(_WARC_SUFFIXES)
        or path.suffix.lower() in _TEXT_SUFFIXES | HTML_SUFFIXES | _JSONL_SUFFIXES | _FEED_SUFFIXES
    )


# --------------------------------------------------------------------------------- JSONL
def read_jsonl(path: Path, *, max_bytes: int | None = None, source: str | None = None) -> Iterator[Item]:
    """One JSON object a line: ``id``, ``text`` or ``html``, optional ``source``, ``url``, ``date``, ``title``.

    Other keys are kept as metadata. A line that is not JSON, or has neither text nor html,
    becomes a failure naming the file and line. ``source`` is the outlet of records without one.
    """
    limit = input_limit(max_bytes)
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            origin = f"{path}:{number}"
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                yield Failure(_bytes_id(raw), origin, f"{origin}: not a JSON object ({error})")
                continue
            if not isinstance(record, dict):
                yield Failure(
                    _bytes_id(raw), origin, f"{origin}: expected a JSON object, found {type(record).__name__}"
                )
                continue
            if not _is_unicode(record):
                yield Failure(
                    _bytes_id(raw), origin, f"{origin}: holds an unpaired surrogate (e.g. \\ud800), which is not text"
                )
                continue
            yield _from_record(record, origin, raw, limit, source)


def _is_unicode(record: dict[str, Any]) -> bool:
    """JSON escapes can spell lone surrogates, which no database or file encoding accepts."""
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _from_record(record: dict[str, Any], origin: str, raw: bytes, limit: int, source: str | None) -> Item:
    given = record.get("id")
    ident = str(given) if given not in (None, "") else None
    extra = {k: v for k, v in record.items() if k not in ("id", "text", "html") and v is not None}
    try:
        check_id(ident, origin)
        text, html = record.get("text"), record.get("html")
        if not isinstance(text, str) and not isinstance(html, str):
            raise InputError(f"{origin}: a record needs a 'text' or 'html' string")
        body = text if isinstance(text, str) else str(html)
        if len(body.encode("utf-8")) > limit:
            raise InputError(f"{origin}: the article is above the limit of {limit:,} bytes")
        check_text(body, source=origin)
        document = (
            from_html(body, source=origin)
            if isinstance(html, str) and not isinstance(text, str)
            else Document(text=body)
        )
    except InputError as error:
        return Failure(ident if ident is not None and _printable(ident) else _bytes_id(raw), origin, str(error), extra)
    metadata = _normalized({**document.metadata, **extra}, origin=origin, default_source=source)
    return Document(text=document.text, id=ident or content_id(document.text), metadata=metadata)


def _count_lines(path: Path) -> int:
    with path.open("rb") as lines:
        return sum(1 for line in lines if line.strip())


# --------------------------------------------------------------------------------- WARC
def read_warc(path: Path, *, max_bytes: int | None = None, source: str | None = None) -> Iterator[Item]:
    """The HTML ``response`` records of a WARC (or ARC) file, extracted with trafilatura.

    Other records (requests, metadata, images, redirects) are passed over silently. The outlet
    is the page's site name, else ``source``, else the host of its URL. The crawl time is kept as ``crawled``, apart
    from ``date``, because a page fetched today may have been published years ago. A page cut
    short and a corrupt or truncated rest of the file become failures; the records before stay.
    """
    limit = input_limit(max_bytes)
    for item in _warc_records(path):
        if isinstance(item, Failure):
            yield item
            continue
        record, iterator = item
        if not _is_html_response(record):
            continue
        url = record.rec_headers.get_header("WARC-Target-URI") or ""
        data = record.content_stream().read()
        origin = f"{path}@{iterator.get_record_offset()}"  # only valid once the record is read
        meta = {
            "url": url,
            "warc_record_id": record.rec_headers.get_header("WARC-Record-ID"),
            "crawled": record.rec_headers.get_header("WARC-Date"),
        }
        try:
            if record.raw_stream.limit:
                raise InputError(f"{origin}: the record is cut short ({record.raw_stream.limit:,} bytes missing)")
            document = from_html(_page_text(record, data, url or origin, limit), source=url or origin)
        except InputError as error:
            yield Failure(_bytes_id(data), origin, str(error), {k: v for k, v in meta.items() if v})
            continue
        metadata = {**document.metadata, **{k: v for k, v in meta.items() if v}}
        metadata = _normalized(metadata, origin=origin, default_source=source)
        yield Document(text=document.text, id=content_id(document.text), metadata=metadata)


def _warc_records(path: Path) -> Iterator[tuple[Any, Any] | Failure]:
    """Each record of a WARC with its iterator; where the file turns corrupt or ends inside a
    record, one ``Failure`` for the rest, so the records before it are still read and counted."""
    warcio = _import_warcio()
    with path.open("rb") as stream:
        iterator = warcio.ArchiveIterator(stream, arc2warc=True)
        try:
            for record in iterator:
                yield record, iterator
        except Exception as error:  # warcio and zlib raise many kinds on corrupt bytes
            yield _unreadable(path, iterator.offset, f"corrupt data ({type(error).__name__})")
            return
        end = iterator.offset  # warcio moves it to the end of each record it has read
        size = stream.seek(0, 2)
        if end < size:
            yield _unreadable(path, end, f"the last {size - end:,} bytes are not a whole record (a truncated file?)")


def _unreadable(path: Path, offset: int, reason: str) -> Failure:
    origin = f"{path}@{offset}"
    return Failure(_bytes_id(origin.encode()), origin, f"{origin}: cannot read the archive from here on: {reason}")


def _is_html_response(record) -> bool:
    if record.rec_type != "response":
        return False
    if record.http_headers is None:
        return False
    status = record.http_headers.get_statuscode()
    content_type = (record.http_headers.get_header("Content-Type") or "").lower()
    return status == "200" and ("html" in content_type or not content_type)


def _page_text(record, data: bytes, source: str, limit: int) -> str:
    """Decode a page with the charset its HTTP headers declare, else its ``<meta>`` one, else UTF-8."""
    header = email.message.Message()
    header["Content-Type"] = record.http_headers.get_header("Content-Type") or ""
    return decode_html(data, source=source, max_bytes=limit, charset=header.get_content_charset())


def _count_warc(path: Path) -> int:
    return sum(1 for item in _warc_records(path) if isinstance(item, Failure) or _is_html_response(item[0]))


def _import_warcio():
    try:
        import warcio.archiveiterator as warcio
    except ImportError:
        raise SourceError("reading WARC files needs warcio: pip install propscan[batch]") from None
    return warcio


# --------------------------------------------------------------------------------- feeds
def read_feed(path: Path, *, max_bytes: int | None = None, source: str | None = None) -> Iterator[Item]:
    """The entries of an RSS or Atom file: full content when the feed carries it, else the summary.

    The id is the entry's id (guid), else its link, else a hash of its text; the outlet is the
    feed's title, else ``source``, else the file's name.
    """
    feedparser = _import_feedparser()
    parsed = feedparser.parse(path.read_bytes())
    if parsed.bozo and not parsed.entries:
        yield Failure(
            _bytes_id(path.read_bytes()), str(path), f"{path}: not an RSS or Atom feed ({parsed.bozo_exception})"
        )
        return
    outlet = parsed.feed.get("title") or source or path.stem
    for number, entry in enumerate(parsed.entries, start=1):
        origin = f"{path}#{number}"
        given = entry.get("id") or entry.get("link")
        body = _entry_body(entry)
        meta = {
            "title": entry.get("title"),
            "url": entry.get("link"),
            "author": entry.get("author"),
            "date": _struct_date(entry.get("published_parsed") or entry.get("updated_parsed"))
            or entry.get("published"),
            "source": outlet,
        }
        meta = {k: v for k, v in meta.items() if v}
        try:
            check_id(given, origin)
            if body is None:
                raise InputError(f"{origin}: the entry has neither content nor summary")
            check_text(body, source=origin)
            if looks_like_html(body) or re.search(r"<(p|div|br|article)\b", body, re.IGNORECASE):
                document = _html_fragment(body, origin)
            else:
                document = Document(text=body.strip())
        except InputError as error:
            ident = given if given and _printable(given) else _bytes_id(json.dumps(dict(entry), default=str).encode())
            yield Failure(ident, origin, str(error), meta)
            continue
        title = meta.get("title")
        text = document.text if not title or document.text.startswith(title) else f"{title}\n\n{document.text}"
        metadata = _normalized({**meta, "extracted_from": "feed"}, origin=origin)
        yield Document(text=text, id=given or content_id(text), metadata=metadata)


def _entry_body(entry) -> str | None:
    contents = entry.get("content") or []
    values = [c.get("value") for c in contents if c.get("value")]
    if values:
        return max(values, key=len)
    return entry.get("summary") or None


def _html_fragment(body: str, origin: str) -> Document:
    """Feed content is a fragment: strip the tags ourselves if trafilatura finds it too short."""
    try:
        return from_html(f"<html><body><article>{body}</article></body></html>", source=origin)
    except InputError:
        text = re.sub(r"\s*<(?:br|/p|/div)\s*/?>\s*", "\n", body, flags=re.IGNORECASE)
        text = re.sub(r"<[^>]+>", "", text)
        import html

        text = html.unescape(text).strip()
        check_text(text, source=origin)
        return Document(text=text)


def _struct_date(value) -> str | None:
    if not value:
        return None
    return dt.date(value.tm_year, value.tm_mon, value.tm_mday).isoformat()


def _count_feed(path: Path) -> int:
    return max(len(_import_feedparser().parse(path.read_bytes()).entries), 1)


def _import_feedparser():
    try:
        import feedparser
    except ImportError:
        raise SourceError("reading RSS/Atom feeds needs feedparser: pip install propscan[batch]") from None
    return feedparser


# --------------------------------------------------------------------------------- URL lists
def read_url_list(
    path: Path, *, max_bytes: int | None = None, source: str | None = None, known: Container[str] = frozenset()
) -> Iterator[Item]:
    """Fetch and extract each page a file lists, one URL a line (blank lines and ``#`` comments skipped).

    The id is the URL itself, known before fetching, so a resumed run fetches only what it lacks.
    A line that is not an http(s) URL, or a page that cannot be fetched, becomes a failure. The
    command line may fetch any address, private ones included: the user fetches for themselves.
    """
    for number, url in _url_lines(path):
        origin = f"{path}:{number}"
        if url in known:
            yield Known(url)
            continue
        if not is_url(url):
            yield Failure(url, origin, f"{origin}: {url!r} is not an http:// or https:// URL")
            continue
        try:
            document = read_url(url, max_bytes=max_bytes)
        except InputError as error:
            yield Failure(url, origin, str(error), {"url": url})
            continue
        metadata = _normalized(document.metadata, origin=origin, default_source=source)
        yield Document(text=document.text, id=url, metadata=metadata)


def _url_lines(path: Path) -> list[tuple[int, str]]:
    with path.open(encoding="utf-8", errors="replace") as lines:
        numbered = ((number, line.strip()) for number, line in enumerate(lines, start=1))
        return [(number, line) for number, line in numbered if line and not line.startswith("#")]


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    return path


# --------------------------------------------------------------------------------- helpers
def _reader(path: Path):
    if path.is_dir():
        return read_folder
    if not path.is_file():
        raise SourceError(f"{path}: no such file or folder")
    name = path.name.lower()
    if name.endswith(_WARC_SUFFIXES):
        return read_warc
    suffix = path.suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return read_jsonl
    if suffix in _FEED_SUFFIXES:
        return read_feed
    if suffix in _TEXT_SUFFIXES | HTML_SUFFIXES:
        return _read_single
    raise SourceError(
        f"{path}: cannot tell the format from the name; expected a folder, .txt, .html, "
        ".jsonl, .warc(.gz), or .rss/.atom/.xml"
    )


def _read_single(path: Path, *, max_bytes: int | None = None, source: str | None = None) -> Iterator[Item]:
    yield read_file(path, max_bytes=max_bytes, source=source)


_COUNTERS: dict[Callable[..., Iterator[Item]], Callable[[Path], int]] = {
    read_folder: lambda path: sum(_COUNTERS[_reader(p)](p) for p in _folder_files(path)),
    _read_single: lambda path: 1,
    read_jsonl: _count_lines,
    read_warc: _count_warc,
    read_feed: _count_feed,
}


def check_id(ident: str | None, origin: str) -> None:
    """Refuse ids with control characters: a tab or newline in an id would forge lines in TSV exports.

    Raises:
        InputError: naming the id with its control characters escaped.
    """
    if not _printable(ident):
        raise InputError(
            f"{origin}: the id {json.dumps(ident)} holds control characters (tabs, newlines...); give a plain id"
        )


def _printable(ident: str | None) -> bool:
    return ident is None or not CONTROL_CHARACTERS.search(ident)


def _bytes_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


def _host(url: str) -> str | None:
    match = re.match(r"^[a-z][a-z0-9+.-]*://(?:www\.)?([^/:?#]+)", url or "", re.IGNORECASE)
    return match.group(1).lower() if match else None


def _normalized(metadata: Mapping[str, Any], *, origin: str, default_source: str | None = None) -> dict[str, Any]:
    """Metadata with ``source``, ``title``, ``url``, ``date`` (ISO when parseable) and ``origin``.

    The outlet is the one the record names, else its site name, else ``default_source``, else the
    host of its URL.
    """
    out = {k: v for k, v in metadata.items() if v not in (None, "")}
    source = (
        out.get("source") or out.get("sitename") or out.get("hostname") or default_source or _host(out.get("url", ""))
    )
    if source:
        out["source"] = str(source)
    if "date" in out:
        out["date"] = parse_date(out["date"]) or str(out["date"])
    out["origin"] = origin
    return out


def parse_date(value: Any) -> str | None:
    """An ISO ``YYYY-MM-DD`` for ISO dates, datetimes and RFC 2822 dates; None otherwise."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        pass
    match = re.match(r"^(\d{4})-(\d{2})-(\d{2})", text)
    if match:
        try:
            return dt.date(*map(int, match.groups())).isoformat()
        except ValueError:
            return None
    try:
        return email.utils.parsedate_to_datetime(text).date().isoformat()
    except (TypeError, ValueError, IndexError):
        return None
