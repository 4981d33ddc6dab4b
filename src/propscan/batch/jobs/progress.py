"""A rich progress bar for batch jobs: documents done, rate, ETA and failures.

Documents the run already holds are taken off the total rather than counted as done, so the rate
and the ETA describe the work actually left.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RichProgress:
    """A ``ProgressSink`` drawing on standard error; use it as a context manager."""

    def __init__(
        self, description: str = "analyzing", *, console: Console | None = None, disable: bool = False
    ) -> None:
        self.failed = 0
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[failures]}"),
            console=console or Console(stderr=True),
            disable=disable,
        )
        self._task = self._bar.add_task(description, total=None, rate="", failures="")

    def __enter__(self) -> RichProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def start(self, total: int) -> None:
        self._bar.update(self._task, total=total)

    def advance(self, analyzed: int = 0, failed: int = 0) -> None:
        self.failed += failed
        self._bar.advance(self._task, analyzed + failed)
        task = self._bar.tasks[self._task]
        speed = task.speed
        self._bar.update(
            self._task,
            rate=f"{speed:.2f} docs/s" if speed else "",
            failures=f"[red]{self.failed} failed" if self.failed else "",
        )

    def skip(self, count: int = 1) -> None:
        task = self._bar.tasks[self._task]
        if task.total is not None:
            self._bar.update(self._task, total=max(task.total - count, task.completed))
