"""Terminal output: what an article or a database holds is shown, never obeyed, by the terminal (D9)."""

from __future__ import annotations

import io

from rich.console import Console

from propscan import Document, Span
from propscan.document import Analysis, visible
from propscan.render import print_analysis

ATTACK = "\x1b[2J\x1b[31m"  # clear the screen, then print in red
TEXT = f"Cowards{ATTACK} ran [/] away.\r\nThe vote\twas on Tuesday\x9b."


def printed(show) -> str:
    """What a colour terminal receives, with rich's own styles removed."""
    out = io.StringIO()
    show(Console(file=out, force_terminal=True, color_system="truecolor", width=200))
    return out.getvalue()


def test_visible_escapes_control_characters_but_keeps_lines_and_tabs():
    assert visible(TEXT) == "Cowards\\x1b[2J\\x1b[31m ran [/] away.\r\nThe vote\twas on Tuesday\\x9b."
    assert visible("a\rb") == "a\\x0db"  # a lone carriage return would overwrite the line


def test_analyze_output_never_sends_the_article_escape_sequences():
    document = Document(TEXT, "a1")
    analysis = Analysis(document, (Span(0, 20, "Name_Calling,Labeling", 0.9),), (), 0.5, model=f"m{ATTACK}@1")
    out = printed(lambda console: print_analysis(analysis, console))
    assert "\x1b[2J" not in out and "\x9b" not in out
    assert "\\x1b[2J" in out and "[/]" in out  # shown, and brackets are not rich markup
