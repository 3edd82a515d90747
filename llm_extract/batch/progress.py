"""The batch's live progress bar (rich, on stderr): letters/s, ETA, errors, tokens.

rich's own speed and ETA columns average over every ``advance``; a re-run
skips hundreds of letters in milliseconds, which would make both nonsense.
Here the rate counts only letters extracted in this run, and the ETA divides
what is left by that rate.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA -:--:--"
    s = int(seconds + 0.5)
    return f"ETA {s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        rate = task.fields.get("rate")
        return Text("-- letters/s" if not rate else f"{rate:.1f} letters/s", style="cyan")


class _EtaColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(_fmt_eta(task.fields.get("eta")), style="blue")


class _ErrorsColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        n = int(task.fields.get("failed", 0))
        return Text(f"{n} failed", style="bold red" if n else "green")


class _TokensColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{int(task.fields.get('tokens', 0)):,} tok", style="magenta")


class BatchProgress:
    """Counts and draws; ``enabled=False`` keeps the counts and draws nothing."""

    def __init__(self, total: int | None, *, enabled: bool, console: Console | None = None) -> None:
        self.total = total
        self.extracted = 0  # done + failed this run
        self.completed = 0  # extracted + skipped
        self.failed = 0
        self.tokens = 0
        self._t0: float | None = None
        self._progress: Progress | None = None
        self._task_id = None
        if enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.fields[stage]}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                _RateColumn(),
                _EtaColumn(),
                _ErrorsColumn(),
                _TokensColumn(),
                TimeElapsedColumn(),
                console=console or Console(stderr=True),
                transient=False,
                refresh_per_second=5,
            )
            self._task_id = self._progress.add_task(
                "batch", total=total, rate=0.0, eta=None, stage="batch"
            )

    def __enter__(self) -> BatchProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._update()
            self._progress.stop()

    def stage(self, text: str) -> None:
        """What the bar's label says (the Batch API shows its batch's state there)."""
        if self._progress is not None and self._task_id is not None:
            self._progress.update(self._task_id, stage=text)

    def started(self) -> None:
        if self._t0 is None:
            self._t0 = time.perf_counter()

    def rate(self) -> float:
        if self._t0 is None or self.extracted == 0:
            return 0.0
        return self.extracted / max(time.perf_counter() - self._t0, 1e-9)

    def skipped(self, n: int = 1) -> None:
        self.completed += n
        self._update()

    def finished(self, *, ok: bool, tokens: int) -> None:
        self.extracted += 1
        self.completed += 1
        self.tokens += tokens
        if not ok:
            self.failed += 1
        self._update()

    def _update(self) -> None:
        if self._progress is None or self._task_id is None:
            return
        rate = self.rate()
        eta = None
        if rate > 0 and self.total is not None:
            eta = max(self.total - self.completed, 0) / rate
        self._progress.update(
            self._task_id,
            completed=self.completed,
            rate=rate,
            eta=eta,
            failed=self.failed,
            tokens=self.tokens,
        )
