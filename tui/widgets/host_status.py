"""One status line per host: is it connected, to what, and how many guests run there."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from backend.model import ConnectionState, HostStatus
from tui.format import clock_time

_SEP = ("  ·  ", "dim")


def status_text(status: HostStatus, running: int, total: int) -> Text:
    """The line for one host; pure, so tests can read it without a screen."""
    parts: list[str | tuple[str, str]] = [(status.label, "bold"), "  "]
    if status.readonly:
        parts += [(" READ-ONLY ", "bold black on yellow"), "  "]
    if status.state is ConnectionState.CONNECTED:
        parts.append(("connected", "green"))
        versions = [f"libvirt {status.libvirt_version}"] if status.libvirt_version else []
        if status.hypervisor:
            versions.append(status.hypervisor)
        if versions:
            parts += [_SEP, ", ".join(versions)]
        parts += [_SEP, f"{running} running / {total} guests"]
    elif status.state is ConnectionState.DISCONNECTED:
        since = f" since {clock_time(status.since)}" if status.since is not None else ""
        parts.append((f"disconnected{since}", "bold red"))
        if status.error:
            parts += [_SEP, status.error]
        parts += [_SEP, ("retrying", "italic")]
    else:
        parts.append(("connecting…", "yellow"))
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
        self._redraw()

    def set_status(self, status: HostStatus) -> None:
        self.status = status
        self._redraw()

    def set_counts(self, running: int, total: int) -> None:
        if (running, total) != (self.running, self.total):
            self.running, self.total = running, total
            self._redraw()

    def _redraw(self) -> None:
        self.set_class(self.status.state is ConnectionState.DISCONNECTED, "-disconnected")
        self.update(status_text(self.status, self.running, self.total))


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
