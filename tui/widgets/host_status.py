"""One status line per host: is it connected, to what, how many guests run there; and,
once statistics arrive, a summary line: host CPU, memory, overcommit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
#: From this many hosts on, the status area takes its compact form (one line each).
COMPACT_FROM = 5


Parts = list[str | tuple[str, str]]


def _line_parts(status: HostStatus, connected: Parts, *, full: bool) -> Parts:
    """A host's line around what its connected form says: the label and read-only tag
    first; an internal error while connected (kvmtui.backend.failures) in red; a
    disconnected host's time and reason (and, in full, that it is retried)."""
    parts: Parts = [(printable(status.label), "bold"), "  "]
    if status.readonly:
        parts += [(" READ-ONLY " if full else "RO", "bold black on yellow"), "  " if full else " "]
    if status.state is ConnectionState.CONNECTED:
        parts += [("connected", "green"), *connected]
        if status.error:
            parts += [_SEP, (printable(status.error), "red")]
    elif status.state is ConnectionState.DISCONNECTED:
        since = f" since {clock_time(status.since)}" if status.since is not None else ""
        parts.append((f"disconnected{since}", "bold red"))
        if status.error:
            parts += [_SEP, printable(status.error)]
        if full:
            parts += [_SEP, ("retrying", "italic")]
    else:
        parts.append(("connecting…", "yellow"))
    return parts


def status_text(status: HostStatus, running: int, total: int) -> Text:
    """The line for one host; pure, so tests can read it without a screen."""
    connected: Parts = []
    versions = [f"libvirt {status.libvirt_version}"] if status.libvirt_version else []
    if status.hypervisor:
        versions.append(status.hypervisor)
    if versions:
        connected += [_SEP, printable(", ".join(versions))]
    connected += [_SEP, f"{running} running / {total} guests"]
    return Text.assemble(*_line_parts(status, connected, full=True))


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


def compact_text(
    status: HostStatus, running: int, total: int, figures: HostFigures | None
) -> Text:
    """One line for a host when there are many: its state, counts and CPU/memory; a
    problem with its reason. Cut at the widget's edge, never wrapped."""
    connected: Parts = [_SEP, f"{running}/{total} running"]
    if figures is not None:
        for name, pct in (("CPU", figures.cpu_pct), ("mem", figures.mem_pct)):
            shown = UNKNOWN if pct is None else f"{pct_text(pct)}%"
            connected += ["  " if name == "mem" else _SEP, f"{name} ", (shown, pct_style(pct))]
    parts = _line_parts(status, connected, full=False)
    return Text.assemble(*parts, no_wrap=True, overflow="ellipsis")


def is_problem(status: HostStatus) -> bool:
    """Not connected, or connected with an internal error: listed first, never hidden."""
    return status.state is not ConnectionState.CONNECTED or bool(status.error)


def hosts_summary(
    statuses: Sequence[HostStatus], hidden: int = 0, paused: bool = False
) -> Text:
    """``20 hosts: 19 connected, 1 disconnected since 10:42``; ``hidden`` connected
    hosts without a line of their own are pointed to the host view (``14 more: H``)."""
    states = [s.state for s in statuses]
    parts: Parts = [(f"{len(statuses)} hosts: ", "bold")]
    counts: Parts = []
    connected = states.count(ConnectionState.CONNECTED)
    if connected:
        counts.append((f"{connected} connected", "green"))
    connecting = states.count(ConnectionState.CONNECTING)
    if connecting:
        counts.append((f"{connecting} connecting", "yellow"))
    down = [s for s in statuses if s.state is ConnectionState.DISCONNECTED]
    if down:
        times = [s.since for s in down if s.since is not None]
        since = f" since {clock_time(min(times))}" if times else ""
        counts.append((f"{len(down)} disconnected{since}", "bold red"))
    for i, count in enumerate(counts):
        parts += [", " if i else "", count]
    if hidden:
        parts += [_SEP, (f"{hidden} more: H", "dim")]
    if paused:
        parts += ["  ", (" PAUSED ", "bold black on yellow")]
    return Text.assemble(*parts, no_wrap=True, overflow="ellipsis")


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
        self.compact = False
        self._lines = 0
        self._redraw()

    def set_compact(self, compact: bool) -> None:
        if compact != self.compact:
            self.compact = compact
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
        if self.compact:
            self.update(compact_text(self.status, self.running, self.total, self.figures))
            return
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
    """The status lines of every host, in command-line order.

    From :data:`COMPACT_FROM` hosts on, the compact form: a summary line, then one line
    per host, problems first; a host with a problem always has its line, connected ones
    fill what is left of :meth:`compact_lines` and the rest are counted in the summary
    (the host view, ``H``, has every host's full lines)."""

    DEFAULT_CSS = """
    HostStatusBar {
        height: auto;
    }
    HostStatusBar > #host-summary {
        display: none;
        height: 1;
        padding: 0 1;
    }
    HostStatusBar.-compact > #host-summary {
        display: block;
    }
    HostStatusBar.-compact > HostStatusLine {
        height: 1;
    }
    """

    def __init__(self, statuses: Iterable[HostStatus], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines = {s.label: HostStatusLine(s) for s in statuses}
        self._summary = Static(id="host-summary")
        self._order: list[str] = []
        self._paused = False

    def compose(self) -> ComposeResult:
        yield self._summary
        yield from self._lines.values()

    def on_mount(self) -> None:
        self._arrange()

    def on_resize(self) -> None:
        self._arrange()

    @property
    def compact(self) -> bool:
        return len(self._lines) >= COMPACT_FROM

    def compact_lines(self) -> int:
        """Host lines the compact form shows besides the problems: a sixth of the
        screen (4 at 24 rows, 6 at 40)."""
        height = self.app.size.height if self.is_attached else 24
        return max(2, height // 6)

    def _arrange(self) -> None:
        """Compact or full; in compact form, problems first and the overflow hidden."""
        compact = self.compact
        self.set_class(compact, "-compact")
        for line in self._lines.values():
            line.set_compact(compact)
        if not compact:
            return
        labels = list(self._lines)
        problems = [la for la in labels if is_problem(self._lines[la].status)]
        fine = [la for la in labels if la not in problems]
        # Problems fill up to half the screen (the bar's max-height): past that, the
        # summary's counts carry them and the host view lists them.
        height = self.app.size.height if self.is_attached else 24
        problems_shown = problems[: max(1, height // 2 - 1)]
        room = max(0, self.compact_lines() - len(problems))
        order = problems + fine
        shown = set(problems_shown + fine[:room])
        for label in order:
            self._lines[label].display = label in shown
        if order != self._order and self.is_mounted:
            self._order = order
            for label in reversed(order):
                self.move_child(self._lines[label], after=self._summary)
        statuses = [line.status for line in self._lines.values()]
        hidden = len(labels) - len(shown)
        self._summary.update(hosts_summary(statuses, hidden, self._paused))

    def line(self, label: str) -> HostStatusLine | None:
        return self._lines.get(label)

    def set_status(self, status: HostStatus) -> None:
        line = self._lines.get(status.label)
        if line is not None:
            line.set_status(status)
            if self.compact:
                self._arrange()

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
        if paused != self._paused:
            self._paused = paused
            if self.compact:
                self._arrange()

    async def add_host(self, status: HostStatus) -> None:
        """A host opened during the session (the hosts screen)."""
        if status.label in self._lines:
            return
        line = self._lines[status.label] = HostStatusLine(status)
        await self.mount(line)
        self._arrange()

    async def remove_host(self, label: str) -> None:
        """A host closed during the session."""
        line = self._lines.pop(label, None)
        if line is not None:
            await line.remove()
            self._order = []
            self._arrange()
