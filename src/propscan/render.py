"""Showing an analysis in a terminal: the article with coloured spans, numbered, and a legend."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from propscan.document import Analysis
from propscan.techniques import TECHNIQUES


def render(analysis: Analysis) -> Group:
    """A rich renderable: header, highlighted text with [n] markers, span table, legend."""
    text = analysis.document.text
    body = Text()
    spans = list(analysis.spans)
    # Colour each character by the most confident span covering it; mark each span's end with [n].
    ends: dict[int, list[int]] = {}
    for number, span in enumerate(spans, start=1):
        ends.setdefault(span.end, []).append(number)
    cover: list[str | None] = [None] * len(text)
    for span in sorted(spans, key=lambda s: s.score or 0.0):
        for i in range(span.start, span.end):
            cover[i] = span.technique
    position = 0
    for boundary in sorted({len(text), *ends, *(s.start for s in spans)}):
        if boundary > position:
            _append_run(body, text, cover, position, boundary)
            position = boundary
        for number in ends.get(boundary, ()):
            body.append(f"[{number}]", style="bold dim")

    header = Text.assemble(
        ("propscan ", "bold"),
        (f"{analysis.model}  ", "dim"),
        ("article score ", ""),
        (f"{analysis.score:.2f}", "bold"),
        (f"  {len(spans)} spans in {len(analysis.sentences)} sentences", ""),
    )
    parts: list = [header]
    parts.extend(Text(f"warning: {w}", style="yellow") for w in analysis.warnings)
    parts.extend([Text(""), body, Text("")])
    if spans:
        table = Table(title="Spans", show_lines=False)
        for column in ("#", "technique", "score", "text", "or"):
            table.add_column(column, overflow="fold")
        for number, span in enumerate(spans, start=1):
            table.add_row(
                str(number),
                Text(TECHNIQUES[span.technique].name, style=f"black on {TECHNIQUES[span.technique].color}"),
                f"{span.score or 0.0:.2f}",
                text[span.start : span.end].replace("\n", " "),
                ", ".join(f"{TECHNIQUES[a.technique].name} {a.score:.2f}" for a in span.alternatives),
            )
        parts.append(table)
        legend = Table(title="Techniques", show_header=True)
        legend.add_column("technique")
        legend.add_column("spans", justify="right")
        for technique, count in sorted(analysis.technique_counts().items(), key=lambda kv: -kv[1]):
            legend.add_row(
                Text(TECHNIQUES[technique].name, style=f"black on {TECHNIQUES[technique].color}"), str(count)
            )
        parts.append(legend)
    return Group(*parts)


def _append_run(body: Text, text: str, cover: list, start: int, end: int) -> None:
    run_start = start
    for i in range(start, end + 1):
        if i == end or cover[i] != cover[run_start]:
            technique = cover[run_start]
            style = f"black on {TECHNIQUES[technique].color}" if technique else ""
            body.append(text[run_start:i], style=style)
            run_start = i


def print_analysis(analysis: Analysis, console: Console | None = None) -> None:
    (console or Console()).print(render(analysis))
