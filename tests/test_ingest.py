"""What happens to each kind of bad input: a clear InputError, never a traceback."""

import pytest

from propscan.errors import InputError
from propscan.readers.ingest import decode, from_text, language_warning, read_input


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n\t \r\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (bytes(range(1, 32)) * 20, "binary"),
        (b"caf\xe9 cr\xe8me", "not valid UTF-8"),
    ],
)
def test_bad_bytes_are_refused_with_a_reason(data, message):
    with pytest.raises(InputError, match=message):
        decode(data, source="upload")


def test_size_limit_is_enforced_and_configurable():
    data = b"word " * 1000
    with pytest.raises(InputError, match="above the limit of 100"):
        decode(data, max_bytes=100)
    assert decode(data, max_bytes=10_000).startswith("word")


def test_byte_order_mark_is_dropped_and_crlf_kept():
    assert decode("\ufeffTitle\r\n\r\nBody.".encode()) == "Title\r\n\r\nBody."


def test_html_goes_through_the_article_extractor():
    html = """<!DOCTYPE html><html><head><title>Bridge vote</title></head><body>
    <nav>Home | Sports | Weather</nav>
    <article><h1>Council votes on the bridge</h1>
    <p>The council voted on Tuesday to repair the harbour bridge before the winter storms arrive in the bay.</p>
    <p>Opponents called the plan a reckless waste of money that would ruin every family in the town for years.</p>
    </article><footer>Copyright the paper</footer></body></html>"""
    document = from_text(html)
    assert "reckless waste" in document.text
    assert "Copyright" not in document.text and "<p>" not in document.text
    assert document.metadata["extracted_from"] == "html"


def test_html_without_an_article_is_refused():
    with pytest.raises(InputError, match="no article text"):
        from_text("<html><body><script>var x = 1;</script></body></html>")


def test_missing_file_and_stdin_dash(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="no such file"):
        read_input(tmp_path / "missing.txt")
    (tmp_path / "a.txt").write_bytes(b"Plain text article.\r\nSecond line.")
    assert read_input(tmp_path / "a.txt").text == "Plain text article.\r\nSecond line."


def test_non_english_gets_a_warning_english_does_not():
    german = "Die Regierung hat am Dienstag beschlossen, die Brücke vor dem Winter zu reparieren. " * 3
    assert "not English" in language_warning(german)
    english = "The government decided on Tuesday to repair the bridge before the winter arrives. " * 3
    assert language_warning(english) is None


LATIN_PAGE = """<!doctype html><html><head>{meta}<title>Caf\u00e9 terraces</title></head><body><article>
<p>Caf\u00e9 owners say the new terrace rules are a disaster for the whole street and that the council never listened.</p>
<p>The so-called reform will ruin every cr\u00e8me-br\u00fbl\u00e9e seller on the quay before the summer season even starts.</p>
</article></body></html>"""


@pytest.mark.parametrize(
    "meta",
    ['<meta charset="iso-8859-1">', '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'],
)
def test_html_file_is_decoded_with_its_declared_charset(tmp_path, meta):
    page = tmp_path / "cafe.html"
    page.write_bytes(LATIN_PAGE.format(meta=meta).encode("latin-1"))
    assert "Caf\u00e9 owners" in read_input(page).text


def test_bytes_that_break_the_declared_charset_are_refused():
    with pytest.raises(InputError, match="not valid shift_jis"):
        decode(b"\x81\x20 text", charset="shift_jis")


def test_undeclared_charset_is_still_utf8_only(tmp_path):
    page = tmp_path / "cafe.html"
    page.write_bytes(LATIN_PAGE.format(meta="").encode("latin-1"))
    with pytest.raises(InputError, match="not valid UTF-8"):
        read_input(page)
