"""Every host at a glance: CPU and memory history, guest counts and overcommit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from kvmtui.backend.history import HostHistory
from kvmtui.backend.host import Host
from kvmtui.backend.hoststats import HostFigures
from kvmtui.backend.model import GuestState
from kvmtui.tui import messages
from kvmtui.tui.format import UNKNOWN, human_kib, literal, ratio_style, ratio_text
from kvmtui.tui.polling import Pollers
from kvmtui.tui.widgets.footer import Footer
from kvmtui.tui.widgets.graphs import GraphRow, count, kib, pct, per_second
from kvmtui.tui.widgets.host_status import HostStatusLine

_RUNNING = (GuestState.RUNNING, GuestState.BLOCKED)  # as the guest list counts them
#: (history metric, label, formatter, full scale)
HOST_GRAPHS = (
    ("cpu_pct", "CPU", pct, 100.0),
    ("mem_used_kib", "Memory used", kib, None),
    ("running_guests", "Active", count, None),  # running, paused, idle...: not shut off
    ("disk_rd_bps", "Disk read", per_second, None),
    ("disk_wr_bps", "Disk write", per_second, None),
    ("net_rx_bps", "Net receive", per_second, None),
    ("net_tx_bps", "Net send", per_second, None),
)


def overcommit_table(figures: HostFigures | None) -> Table | Text:
    """Guests and what they were promised, against what the host has."""
    over = figures.overcommit if figures is not None else None
    if figures is None or over is None:
        return Text("no statistics yet", style="dim")
    table = Table(box=None, padding=(0, 2), show_edge=False, header_style="bold")
    for title in ("", "guests", "vCPUs", "ratio", "memory", "ratio"):
        table.add_column(title, justify="left" if not title else "right", no_wrap=True)
    mem_total = over.host_mem_kib
    table.add_row(
        "host",
        "",
        str(over.host_cpus),
        "",
        human_kib(mem_total) if mem_total else UNKNOWN,
        "",
    )
    for label, guests, vcpus, vratio, mem, mratio in (
        ("active", over.running_guests, over.running_vcpus, over.running_vcpu_ratio,
         over.running_mem_kib, over.running_mem_ratio),
        ("defined", over.defined_guests, over.defined_vcpus, over.defined_vcpu_ratio,
         over.defined_mem_kib, over.defined_mem_ratio),
    ):  # fmt: skip
        table.add_row(
            label,
            str(guests),
            str(vcpus),
            Text(ratio_text(vratio), style=ratio_style(vratio)),
            human_kib(mem),
            Text(ratio_text(mratio), style=ratio_style(mratio)),
        )
    return table


class HostPanel(Vertical):
    """One host: a title, its graphs and its overcommit table."""

    DEFAULT_CSS = """
    HostPanel {
        height: auto;
        margin-bottom: 1;
    }
    HostPanel > HostStatusLine {
        padding: 0;
    }
    HostPanel > .host-title {
        text-style: bold;
        color: $accent;
    }
    HostPanel > .host-overcommit {
        margin-top: 1;
        height: auto;
    }
    """

    def __init__(self, label: str, host: Host | None = None) -> None:
        super().__init__(classes="host-panel")
        self.label = label
        self.figures: HostFigures | None = None
        #: The host's full status lines (the guest list shows one line each when there
        #: are many hosts); a bare title without a host.
        self.status_line: HostStatusLine | None = None
        if host is not None:
            self.status_line = HostStatusLine(host.status)
            guests = host.guests()
            self.status_line.set_counts(sum(1 for g in guests if g.state in _RUNNING), len(guests))

    def compose(self) -> ComposeResult:
        if self.status_line is not None:
            yield self.status_line
        else:
            yield Static(literal(self.label), classes="host-title")
        for metric, label, fmt, top in HOST_GRAPHS:
            yield GraphRow(label, fmt, top=top, id=f"host-{metric}")
        yield Static(overcommit_table(None), classes="host-overcommit")

    def show(self, history: HostHistory | None, figures: HostFigures | None) -> None:
        self.figures = figures
        if self.status_line is not None:
            self.status_line.set_figures(figures)
        if history is not None:
            for metric, *_ in HOST_GRAPHS:
                top = None
                if metric == "mem_used_kib" and figures is not None and figures.mem_total_kib:
                    top = float(figures.mem_total_kib)
                self.query_one(f"#host-{metric}", GraphRow).set_series(history.host(metric), top)
        self.query_one(".host-overcommit", Static).update(overcommit_table(figures))


class HostScreen(Screen[None]):
    """Per host: CPU, memory, running guests and I/O over time; overcommit now."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
        Binding("space", "app.toggle_stats", "Pause statistics"),
        Binding("d", "app.set_delay", "Refresh interval"),
    ]
    DEFAULT_CSS = """
    HostScreen #host-panels {
        padding: 0 1;
    }
    """

    def __init__(self, hosts: Sequence[Host], pollers: Pollers | None) -> None:
        super().__init__()
        self.hosts = list(hosts)
        self.pollers = pollers

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="host-panels"):
            if self.pollers is None:
                yield Static("Statistics are off in this session.")
            for host in self.hosts:
                yield HostPanel(host.label, host)
        yield Footer()

    def panel(self, label: str) -> HostPanel | None:
        for panel in self.query(HostPanel):
            if panel.label == label:
                return panel
        return None

    def on_mount(self) -> None:
        if self.pollers is None:
            return
        for host in self.hosts:
            last = self.pollers.last(host.label)
            panel = self.panel(host.label)
            if last is not None and panel is not None:
                panel.show(self.pollers.history(host.label), last.host_figures)

    def on_host_status_changed(self, message: messages.HostStatusChanged) -> None:
        panel = self.panel(message.status.label)
        if panel is not None and panel.status_line is not None:
            panel.status_line.set_status(message.status)

    def on_stats_tick(self, message: messages.StatsTick) -> None:
        panel = self.panel(message.host)
        if panel is not None:
            panel.show(message.history, message.update.host_figures)

    def action_back(self) -> None:
        self.dismiss(None)
