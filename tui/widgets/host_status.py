"""One status line per host: is it connected, to what, how many guests run there; and,
once statistics arrive, a summary line: host CPU, memory, overcommit."""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from kvmtui.backend.hoststats import HostFigures
from kvmtui.backend.model import ConnectionState, HostStatus
from kvmtui.tui.format import (
    UNKNOWN,
    clock_time,
    human_kib,
    pct_style,
    pct_text,
    printable,
    ratio_style,
    ratio_text,
)

_SEP = ("  ·  ", "dim")


def status_text(status: HostStatus, running: int, total: int) -> Text:
    """The line for one host; pure, so tests can read it without a screen."""
    parts: list[str | tuple[str, str]] = [(printable(status.label), "bold"), "  "]
    if status.readonly:
        parts += [(" READ-ONLY ", "bold black on yellow"), "  "]
    if status.state is ConnectionState.CONNECTED:
        parts.append(("connected", "green"))
        versions = [f"libvirt {status.libvirt_version}"] if status.libvirt_version else []
        if status.hypervisor:
            versions.append(status.hypervisor)
        if versions:
            parts += [_SEP, printable(", ".join(versions))]
        parts += [_SEP, f"{running} running / {total} guests"]
        if status.error:  # an internal error while connected (kvmtui.backend.failures)
            parts += [_SEP, (printable(status.error), "red")]
    elif status.state is ConnectionState.DISCONNECTED:
        since = f" since {clock_time(status.since)}" if status.since is not None else ""
        parts.append((f"disconnected{since}", "bold red"))
        if status.error:
            parts += [_SEP, printable(status.error)]
        parts += [_SEP, ("retrying", "italic")]
    else:
        parts.append(("connecting…", "yellow"))
    return Text.assemble(*parts)


def summary_text(
    figures: HostFigures | None, error: str | None = None, paused: bool = False
) -> Text:
    """The host's figures: CPU %, memory used/total, and vCPU and memory overcommit as
    running/defined guests' share of the host (``vCPU 1.50x/2.00x``)."""
    parts: list[str | tuple[str, str]] = ["  "]
    if figures is not None:
        cpu = figures.cpu_pct
        parts += ["CPU ", (f"{pct_text(cpu)}%" if cpu is not None else UNKNOWN, pct_style(cpu))]
        used, total = figures.mem_used_kib, figures.mem_total_kib
        mem = f"{human_kib(used) if used is not None else UNKNOWN}/"
        mem += human_kib(total) if total else UNKNOWN
        parts += ["  mem ", (mem, pct_style(figures.mem_pct))]
        over = figures.overcommit
        if over is not None:
            for label, running, defined in (
                ("vCPU", over.running_vcpu_ratio, over.defined_vcpu_ratio),
                ("mem", over.running_mem_ratio, over.defined_mem_ratio),
            ):
                parts += [f"  {label} ", (ratio_text(running), ratio_style(running))]
                parts += ["/", (ratio_text(defined), ratio_style(defined))]
    if error:
        why = f"statistics: {printable(error)}"
        parts += [("  " if figures is not None else "", ""), (why, "red")]
    if paused:
        parts += ["  ", (" PAUSED ", "bold black on yellow")]
    return Text.assemble(*parts)


class HostStatusLine(Static):
    """The status line of one host."""

    DEFAULT_CSS = """
    HostStatusLine {
        height: auto;
        padding: 0 1;
    }
    """

    def __init__(self, status: HostStatus) -> None:
        super().__init__(classes="host-status")
        self.status = status
        self.running = 0
        self.total = 0
        self.figures: HostFigures | None = None
        self.stats_error: str | None = None
        self.paused = False
        self._lines = 0
        self._redraw()

    def set_status(self, status: HostStatus) -> None:
        self.status = status
        self._redraw()

    def set_counts(self, running: int, total: int) -> None:
        if (running, total) != (self.running, self.total):
            self.running, self.total = running, total
            self._redraw()

    def set_figures(self, figures: HostFigures | None, error: str | None = None) -> None:
        if (figures, error) != (self.figures, self.stats_error):
            self.figures, self.stats_error = figures, error
            self._redraw()

    def set_paused(self, paused: bool) -> None:
        if paused != self.paused:
            self.paused = paused
            self._redraw()

    def _redraw(self) -> None:
        self.set_class(self.status.state is ConnectionState.DISCONNECTED, "-disconnected")
        text = status_text(self.status, self.running, self.total)
        connected = self.status.state is ConnectionState.CONNECTED
        if connected and (self.figures is not None or self.stats_error or self.paused):
            text.append("\n")
            text.append_text(summary_text(self.figures, self.stats_error, self.paused))
        # New figures every tick keep the line count: repaint the line without a
        # layout of the whole screen (only a changed height needs one).
        # A line wider than the widget wraps, so its height may change: lay out then.
        plain = text.plain.split("\n")
        lines = len(plain) if max(map(cell_len, plain)) <= self.content_region.width else -1
        self.update(text, layout=lines < 0 or lines != self._lines)
        self._lines = lines


class HostStatusBar(Vertical):
    """The status lines of every host, in command-line order."""

    DEFAULT_CSS = """
    HostStatusBar {
        height: auto;
    }
    """

    def __init__(self, statuses: Iterable[HostStatus], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines = {s.label: HostStatusLine(s) for s in statuses}

    def compose(self) -> ComposeResult:
        yield from self._lines.values()

    def line(self, label: str) -> HostStatusLine | None:
        return self._lines.get(label)

    def set_status(self, status: HostStatus) -> None:
        line = self._lines.get(status.label)
        if line is not None:
            line.set_status(status)

    def set_counts(self, label: str, running: int, total: int) -> None:
        line = self._lines.get(label)
        if line is not None:
            line.set_counts(running, total)

    def set_figures(self, label: str, figures: HostFigures | None, error: str | None) -> None:
        line = self._lines.get(label)
        if line is not None:
            line.set_figures(figures, error)

    def set_paused(self, paused: bool) -> None:
        for line in self._lines.values():
            line.set_paused(paused)
