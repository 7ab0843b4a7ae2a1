"""History graphs: one line each, a label, a sparkline and the current, min and max values."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from kvmtui.backend.history import Series
from kvmtui.tui.format import UNKNOWN, human_kib, pct_text, rate_text
from kvmtui.tui.widgets.sparkline import Sparkline

Formatter = Callable[[float | None], str]


def pct(value: float | None) -> str:
    return UNKNOWN if value is None else f"{pct_text(value)}%"


def per_second(value: float | None) -> str:
    return UNKNOWN if value is None else f"{rate_text(value)}/s"


def kib(value: float | None) -> str:
    return UNKNOWN if value is None else human_kib(int(value))


def count(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value:.0f}"


def values_text(series: Series | None, fmt: Formatter) -> Text:
    if series is None:
        return Text(f"now {UNKNOWN}  min {UNKNOWN}  max {UNKNOWN}", style="dim")
    return Text.assemble(
        ("now ", "dim"),
        (f"{fmt(series.last):>10}", "bold"),
        ("  min ", "dim"),
        f"{fmt(series.minimum):>10}",
        ("  max ", "dim"),
        f"{fmt(series.maximum):>10}",
    )


class GraphRow(Horizontal):
    """``label  ▁▂▃▅▇  now X  min Y  max Z``; the sparkline takes the spare width, the
    kept values stretched over it until there are more values than cells."""

    DEFAULT_CSS = """
    GraphRow {
        height: 1;
    }
    GraphRow > .graph-label {
        width: 12;
        color: $text-muted;
    }
    GraphRow > Sparkline {
        width: 1fr;
        min-width: 8;
    }
    GraphRow > .graph-values {
        width: 48;
        padding-left: 1;
    }
    """

    def __init__(
        self, label: str, fmt: Formatter, *, top: float | None = None, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.label = label
        self.fmt = fmt
        self.top = top
        self.series: Series | None = None

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="graph-label")
        yield Sparkline(top=self.top, stretch=True)
        yield Static(values_text(None, self.fmt), classes="graph-values")

    def set_series(self, series: Series | None, top: float | None = None) -> None:
        self.series = series
        if top is not None:
            self.top = top
        if not self.is_mounted:
            return
        self.query_one(Sparkline).set_values(series.values if series else (), self.top)
        self.query_one(".graph-values", Static).update(values_text(series, self.fmt))
