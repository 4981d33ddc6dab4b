"""Showing an analysis in a terminal: the article with its spans marked and numbered, and a legend.

What the terminal can show decides how spans are marked. With true colour each technique gets its
highlight colour from ``techniques.py``; with 256, 16 or 8 colours those colours would collapse
into a few (rich picks the nearest), so techniques get looks built from the 8 basic colours that
every colour terminal has. Without colour (piped, ``NO_COLOR``, ``--color never``) the text shows
where each span starts and ends: ``[6>`` ... ``<6]``.
"""

from __future__ import annotations

from collections.abc import Iterator

from rich.console import Console, ConsoleOptions, RenderableType
from rich.table import Table
from rich.text import Text

from propscan.document import Analysis, visible
from propscan.techniques import PTC18, SEMEVAL2020, TECHNIQUES

MARKER_STYLE = "bold dim"

# The 8 basic colours, each as a background, then underlined, then as coloured text: 20 looks,
# one per technique of both inventories, so that no two techniques of a model look alike.
_BASIC = ("red", "green", "yellow", "cyan", "magenta", "white", "blue")
_BACKGROUNDS = [f"{'white' if colour == 'blue' else 'black'} on {colour}" for colour in _BASIC]
_BASIC_LOOKS = (
    _BACKGROUNDS
    + [f"{look} underline" for look in _BACKGROUNDS]
    + [f"bold {colour}" for colour in _BASIC if colour != "white"]
)
_LOOK_ORDER = SEMEVAL2020.labels + tuple(label for label in PTC18.labels if label not in SEMEVAL2020)


def technique_style(label: str, color_system: str | None) -> str:
    """The rich style that highlights ``label`` on a console with this ``color_system`` (none without colour)."""
    if color_system is None:
        return ""
    if color_system == "truecolor":
        return f"black on {TECHNIQUES[label].color}"
    return _BASIC_LOOKS[_LOOK_ORDER.index(label)]


class AnalysisView:
    """A rich renderable of an analysis: header, marked text, span table, legend."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[RenderableType]:
        analysis = self.analysis
        color_system = None if console.no_color else console.color_system
        yield Text.assemble(
            ("propscan ", "bold"),
            (f"{visible(analysis.model)}  ", "dim"),
            ("article score ", ""),
            (f"{analysis.score:.2f}", "bold"),
            (_score_meaning(analysis), ""),
            (f"  {len(analysis.spans)} spans in {len(analysis.sentences)} sentences", ""),
        )
        yield from (Text(f"warning: {visible(w)}", style="yellow") for w in analysis.warnings)
        yield Text("")
        yield _body(analysis, color_system)
        yield Text("")
        if analysis.spans:
            yield _span_table(analysis, color_system)
            yield _legend(analysis, color_system)


def _score_meaning(analysis: Analysis) -> str:
    """With a sentence map the sentence scores are probabilities: their sum, in words."""
    if not analysis.sentence_calibration:
        return ""
    expected = round(sum(s.score for s in analysis.sentences))
    return f" (about {expected} of {len(analysis.sentences)} sentences hold a technique)"


def render(analysis: Analysis) -> AnalysisView:
    """A rich renderable that adapts its marks to the console it is printed on."""
    return AnalysisView(analysis)


def _body(analysis: Analysis, color_system: str | None) -> Text:
    """The text, each character styled by the most confident span covering it, with numbered marks.

    In colour, ``[n]`` closes span n (the colour shows where it starts); without colour, ``[n>``
    opens it and ``<n]`` closes it.
    """
    text = analysis.document.text
    spans = list(analysis.spans)
    starts: dict[int, list[int]] = {}
    ends: dict[int, list[int]] = {}
    for number, span in enumerate(spans, start=1):
        starts.setdefault(span.start, []).append(number)
        ends.setdefault(span.end, []).insert(0, number)  # the last opened closes first
    cover: list[str | None] = [None] * len(text)
    for span in sorted(spans, key=lambda s: s.score or 0.0):
        cover[span.start : span.end] = [span.technique] * (span.end - span.start)
    body = Text()
    position = 0
    for boundary in sorted({len(text), *starts, *ends}):
        if boundary > position:
            _append_run(body, text, cover, position, boundary, color_system)
            position = boundary
        for number in ends.get(boundary, ()):
            body.append(f"[{number}]" if color_system else f"<{number}]", style=MARKER_STYLE)
        if not color_system:
            for number in starts.get(boundary, ()):
                body.append(f"[{number}>", style=MARKER_STYLE)
    return body


def _append_run(body: Text, text: str, cover: list[str | None], start: int, end: int, color_system: str | None) -> None:
    run_start = start
    for i in range(start, end + 1):
        if i == end or cover[i] != cover[run_start]:
            technique = cover[run_start]
            body.append(visible(text[run_start:i]), style=technique_style(technique, color_system) if technique else "")
            run_start = i


def _technique_cell(label: str, color_system: str | None) -> Text:
    return Text(TECHNIQUES[label].name, style=technique_style(label, color_system))


def _span_table(analysis: Analysis, color_system: str | None) -> Table:
    text = analysis.document.text
    table = Table(title="Spans", show_lines=False)
    for column in ("#", "technique", "score", "text", "or"):
        table.add_column(column, overflow="fold")
    for number, span in enumerate(analysis.spans, start=1):
        table.add_row(
            str(number),
            _technique_cell(span.technique, color_system),
            f"{span.score or 0.0:.2f}",
            Text(visible(text[span.start : span.end].replace("\n", " "))),
            ", ".join(f"{TECHNIQUES[a.technique].name} {a.score:.2f}" for a in span.alternatives),
        )
    return table


def _legend(analysis: Analysis, color_system: str | None) -> Table:
    legend = Table(title="Techniques", show_header=True)
    legend.add_column("technique")
    legend.add_column("spans", justify="right")
    for technique, count in sorted(analysis.technique_counts().items(), key=lambda kv: -kv[1]):
        legend.add_row(_technique_cell(technique, color_system), str(count))
    return legend


def print_analysis(analysis: Analysis, console: Console | None = None) -> None:
    (console or Console()).print(render(analysis))
