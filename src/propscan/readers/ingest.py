"""Turning what users hand us (bytes, files, HTML, standard input, URLs) into a ``Document``.

Everything that can be wrong with an input is caught here, with a message that says what was
expected: empty text, binary data, bytes that are not UTF-8 (or not in the charset an HTML page
declares), inputs above the size limit. HTML goes through trafilatura, a real article extractor;
offsets then refer to the extracted text. URLs are fetched by ``propscan.readers.fetch``.
"""

from __future__ import annotations

import codecs
import logging
import re
import sys
from pathlib import Path

from propscan.document import Document
from propscan.errors import InputError
from propscan.readers.fetch import FetchPolicy, Page, fetch, is_url
from propscan.settings import input_limit

logger = logging.getLogger(__name__)

HTML_SUFFIXES = {".html", ".htm", ".xhtml"}


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_UTF8_NAMES = {"utf-8", "ascii"}  # pages that say ASCII often hold UTF-8


def decode(data: bytes, *, source: str = "input", max_bytes: int | None = None, charset: str | None = None) -> str:
    """Decode bytes into text, UTF-8 unless ``charset`` declares another, refusing what cannot be an article.

    Raises:
        InputError: if the data is too large, empty, binary, or not in its charset.
    """
    limit = input_limit(max_bytes)
    if len(data) > limit:
        raise InputError(
            f"{source} is {len(data):,} bytes, above the limit of {limit:,}; "
            "raise it with --max-bytes or PROPSCAN_MAX_BYTES"
        )
    if b"\x00" in data[:65536]:
        raise InputError(f"{source} looks binary (it contains NUL bytes); propscan reads UTF-8 text or HTML")
    encoding = _codec(charset)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        byte = data[error.start : error.start + 1]
        if encoding != "utf-8":
            raise InputError(
                f"{source} is not valid {charset} (byte {error.start}: {byte!r}), the charset it declares"
            ) from None
        raise InputError(
            f"{source} is not valid UTF-8 (byte {error.start}: {byte!r}); "
            "convert it first, e.g. iconv -f latin1 -t utf-8"
        ) from None
    text = text.removeprefix("\ufeff")
    check_text(text, source=source)
    return text


def _codec(charset: str | None) -> str:
    """Python's codec for a declared charset; UTF-8 when none is declared or the name is unknown."""
    if not charset:
        return "utf-8"
    try:
        name = codecs.lookup(charset.strip().lower()).name
    except LookupError:
        logger.info("unknown charset %r, reading UTF-8", charset)
        return "utf-8"
    return "utf-8" if name in _UTF8_NAMES else name


def decode_html(data: bytes, *, source: str = "input", max_bytes: int | None = None, charset: str | None = None) -> str:
    """Decode what may be an HTML page: with ``charset`` (HTTP headers) if given, else its ``<meta>`` charset, else UTF-8.

    Plain text has no ``<meta>`` tag, so it is read as UTF-8, as by ``decode``.

    Raises:
        InputError: as ``decode``.
    """
    return decode(data, source=source, max_bytes=max_bytes, charset=charset or meta_charset(data))


def meta_charset(data: bytes) -> str | None:
    """The charset a page declares in its head (``<meta charset>`` or ``http-equiv`` Content-Type)."""
    match = _META_CHARSET.search(data[:4096])
    return match.group(1).decode("ascii") if match else None


# Control characters other than \t \n \v \f \r: many of them mean binary data, not text.
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f]")


def check_text(text: str, *, source: str = "input") -> None:
    """Refuse empty text and text made mostly of control characters.

    Raises:
        InputError: naming ``source``.
    """
    if not text.strip():
        raise InputError(f"{source} is empty: there is no text to analyze")
    sample = text[:65536]
    controls = len(_CONTROLS.findall(sample))
    if controls > 0.05 * len(sample):
        raise InputError(f"{source} looks binary ({controls} control characters); propscan reads UTF-8 text or HTML")


def looks_like_html(text: str) -> bool:
    head = text.lstrip()[:512].lower()
    return head.startswith(("<!doctype html", "<html")) or ("<body" in head and "</" in text)


def from_html(html: str, *, source: str = "input", id: str = "") -> Document:
    """Extract the article text and metadata (title, author, date, site, url) from an HTML page.

    Raises:
        InputError: if no article text can be extracted.
    """
    import trafilatura

    extracted = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False, favor_recall=True)
    body = getattr(extracted, "text", None) if extracted is not None else None
    if not body or not body.strip():
        raise InputError(f"{source}: no article text could be extracted from this HTML")
    title = getattr(extracted, "title", None)
    text = f"{title}\n\n{body}" if title and not body.startswith(title) else body
    metadata = {
        key: value
        for key in ("title", "author", "date", "sitename", "url", "hostname")
        if (value := getattr(extracted, key, None))
    }
    metadata["extracted_from"] = "html"
    return Document(text=text, id=id, metadata=metadata)


def from_text(text: str, *, source: str = "input", id: str = "", html: bool | None = None) -> Document:
    """A document from text that may be HTML (detected when ``html`` is None)."""
    check_text(text, source=source)
    if html or (html is None and looks_like_html(text)):
        return from_html(text, source=source, id=id)
    return Document(text=text, id=id)


def read_url(url: str, *, policy: FetchPolicy | None = None, max_bytes: int | None = None) -> Document:
    """Fetch a page and extract its article; ``policy`` defaults to one that may reach any address.

    Raises:
        FetchError: if the page cannot be fetched (``AddressRefusedError`` if the policy refuses it).
        InputError: if its content is refused, as for a file.
    """
    limit = input_limit(max_bytes)
    return from_page(fetch(url, policy or FetchPolicy(max_bytes=limit)), max_bytes=limit)


def from_page(page: Page, *, max_bytes: int | None = None) -> Document:
    """The document of a fetched page; its metadata keeps the URL (and where redirects led)."""
    if page.media_type == "text/plain":
        text = decode(page.data, source=page.url, max_bytes=max_bytes, charset=page.charset)
        document = Document(text=text, id=page.url)
    else:
        html = decode_html(page.data, source=page.url, max_bytes=max_bytes, charset=page.charset)
        document = from_html(html, source=page.url, id=page.url)
    metadata = {**document.metadata, "url": page.url}
    if page.final_url != page.url:
        metadata["fetched_url"] = page.final_url
    return Document(text=document.text, id=document.id, metadata=metadata)


def read_input(path: str | Path, *, max_bytes: int | None = None) -> Document:
    """Read a ``.txt`` or ``.html`` file, standard input for ``-``, or a page for an http(s) URL.

    Raises:
        InputError: if the file is missing or unreadable, the page cannot be fetched, or the
            content is refused by ``decode``.
    """
    if is_url(str(path)):
        return read_url(str(path), max_bytes=max_bytes)
    if str(path) == "-":
        data = sys.stdin.buffer.read()
        text = decode_html(data, source="standard input", max_bytes=max_bytes)
        return from_text(text, source="standard input", id="stdin")
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory; analyze reads one file (propscan batch reads folders)")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    limit = input_limit(max_bytes)
    size = path.stat().st_size
    if size > limit:
        raise InputError(
            f"{path} is {size:,} bytes, above the limit of {limit:,}; raise it with --max-bytes or PROPSCAN_MAX_BYTES"
        )
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read it ({error.strerror or error})") from None
    text = decode_html(data, source=str(path), max_bytes=limit)
    is_html = True if path.suffix.lower() in HTML_SUFFIXES else None
    return from_text(text, source=str(path), id=path.stem, html=is_html)


# English function words that other languages rarely spell the same way.
_ENGLISH_WORDS = frozenset(
    [
        "the",
        "and",
        "of",
        "to",
        "is",
        "that",
        "for",
        "with",
        "was",
        "this",
        "are",
        "have",
        "from",
        "were",
        "which",
        "their",
        "has",
        "been",
        "would",
        "will",
    ]
)
_LETTERS = re.compile(r"[^\W\d_]+")


def language_warning(text: str) -> str | None:
    """A warning when the text does not look English, the only language the models learned.

    Text where English function words make up a tenth of the words is English without asking
    the language identifier (about 0.3 ms instead of 4-15 ms for 5,000 characters): every PTC
    article has at least 13% of them, German or Spanish news almost none.
    """
    import py3langid

    sample = text[:5000]
    words = _LETTERS.findall(sample.lower())
    if sum(map(len, words)) < 40:
        return None
    if sum(map(_ENGLISH_WORDS.__contains__, words)) >= 0.1 * len(words):
        return None
    language, _ = py3langid.classify(sample)
    if language != "en":
        return f"the text looks like language '{language}', not English; the models were trained on English news"
    return None
