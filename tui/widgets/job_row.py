"""One job on the jobs screen: its title and state, a progress bar with phase, rate and
time left, and once it has ended its outcome sentence."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar, Static

from kvmtui.backend.jobs import JobState, JobView
from kvmtui.tui.widgets.storage_tables import size_text

STATE_STYLES = {
    JobState.RUNNING: "bold",
    JobState.CANCELLING: "bold yellow",
    JobState.DONE: "green",
    JobState.FAILED: "bold red",
    JobState.CANCELLED: "yellow",
}


def duration_text(seconds: float) -> str:
    """12 s, 3 min 05 s, 2 h 07 min."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def amount_text(value: int, unit: str) -> str:
    return size_text(value) if unit == "bytes" else f"{value} {unit}"


def detail_text(view: JobView) -> str:
    """phase · 120 MiB of 200 MiB · 52 MiB/s · 2 s left (or the time it took)."""
    parts = [view.phase if not view.finished else view.state.value]
    if view.total is not None:
        parts.append(f"{amount_text(view.done, view.unit)} of {amount_text(view.total, view.unit)}")
    elif view.done:
        parts.append(amount_text(view.done, view.unit))
    if not view.finished:
        if view.rate is not None:
            parts.append(f"{amount_text(int(view.rate), view.unit)}/s")
        if view.eta_s is not None:
            parts.append(f"{duration_text(view.eta_s)} left")
    parts.append(f"{duration_text(view.elapsed_s)} {'taken' if view.finished else 'so far'}")
    return " · ".join(parts)


class JobRow(Vertical, can_focus=True):
    """``JobRow(view)``; :meth:`show` puts a newer view of the same job in place."""

    DEFAULT_CSS = """
    JobRow { height: auto; padding: 0 1; }
    JobRow:focus { background: $boost; }
    JobRow:focus .job-title { text-style: bold reverse; }
    JobRow > Horizontal { height: auto; }
    JobRow ProgressBar { width: auto; }
    JobRow ProgressBar Bar { width: 20; }
    JobRow .job-detail { width: 1fr; height: auto; padding-left: 1; }
    JobRow .job-outcome { height: auto; color: $text-muted; }
    JobRow.-failed .job-outcome { color: $error; }
    """

    def __init__(self, view: JobView) -> None:
        super().__init__(id=f"job-{view.id}")
        self.view = view
        self._composed = False

    def compose(self) -> ComposeResult:
        yield Static(classes="job-title")
        with Horizontal():
            yield ProgressBar(show_eta=False)
            yield Static(classes="job-detail")
        yield Static(classes="job-outcome")

    def on_mount(self) -> None:
        self._composed = True
        self.show(self.view)

    def show(self, view: JobView) -> None:
        self.view = view
        if not self._composed:  # a newer view before the row was mounted: shown on mount
            return
        state = (view.state.value, STATE_STYLES[view.state])
        title = Text.assemble((view.title, "bold"), "  ", state)
        self.query_one(".job-title", Static).update(title)
        bar = self.query_one(ProgressBar)
        bar.display = view.total is not None or not view.finished  # ended before it knew
        if view.state is JobState.DONE:
            bar.update(total=max(view.total or 1, 1), progress=max(view.total or 1, 1))
        elif view.total is not None or view.finished:
            bar.update(total=max(view.total or 1, 1), progress=view.done)
        else:
            bar.update(total=None)  # not known yet: Textual's indeterminate bar
        self.query_one(".job-detail", Static).update(detail_text(view))
        outcome = self.query_one(".job-outcome", Static)
        outcome.update(view.outcome or "")
        outcome.display = bool(view.outcome)
        self.set_class(view.state is JobState.FAILED, "-failed")
