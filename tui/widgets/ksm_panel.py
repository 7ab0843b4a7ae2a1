"""One host on the KSM screen: its KSM figures, the memory-saved graph, the guests that
merge most, its overcommit and what may be changed."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from kvmtui.backend.ksm import KsmHistory, KsmReading, Permission
from kvmtui.backend.overcommit import Density, Thresholds
from kvmtui.tui.format import human_kib, literal, printable
from kvmtui.tui.widgets.graphs import GraphRow, kib
from kvmtui.tui.widgets.ksm_overcommit import overcommit_view

#: Guests listed under a host, most merged first.
TOP_GUESTS = 8


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _bytes(value: int | None) -> str:
    return "-" if value is None else human_kib(value // 1024)


def title_text(label: str, reading: KsmReading | None, selected: bool) -> Text:
    marker = ("▶ ", "bold") if selected else ("  ", "")
    if reading is None:
        state = ("reading…", "dim")
    elif reading.counters is None:
        state = ("KSM not reported", "dim")
    elif reading.running is None:
        state = ("KSM run state unknown (remote)", "dim")
    elif reading.running:
        state = ("KSM running", "green")
    else:
        state = ("KSM stopped", "yellow")
    return Text.assemble(marker, (printable(label), "bold"), "  ", state)


def figures_view(reading: KsmReading | None, error: str | None) -> RenderableType:
    if error:
        return literal(error, style="red")
    if reading is None:
        return Text("no reading yet", style="dim")
    if reading.counters is None:
        return Text(f"No KSM figures: {reading.unavailable}.", style="dim")
    c = reading.counters
    table = Table(box=None, padding=(0, 2), show_header=False, show_edge=False)
    for _ in range(4):
        table.add_column(no_wrap=True)
    ratio = reading.sharing_ratio
    table.add_row(
        Text("memory saved", style="bold"),
        Text(_bytes(None if reading.saved_kib is None else reading.saved_kib * 1024), "bold"),
        Text("sharing ratio", style="bold"),
        Text("-" if ratio is None else f"{ratio:.1f} per page", "bold"),
    )
    table.add_row("pages shared", _n(c.pages_shared), "pages sharing", _n(c.pages_sharing))
    table.add_row("pages unshared", _n(c.pages_unshared), "pages volatile", _n(c.pages_volatile))
    table.add_row("full scans", _n(c.full_scans), "pages to scan", _n(c.pages_to_scan))
    table.add_row(
        "sleep",
        "-" if c.sleep_millisecs is None else f"{c.sleep_millisecs} ms",
        "merge across nodes",
        _n(c.merge_across_nodes),
    )
    local = reading.local
    if local is not None:
        table.add_row(
            "general profit",
            _bytes(local.general_profit_bytes),
            "zero pages",
            _n(local.zero_pages),
        )
    return table


def guests_view(reading: KsmReading | None) -> RenderableType:
    if reading is None or reading.local is None:
        return Text("per-guest figures: local host only", style="dim")
    if not reading.guests:
        return Text("no running guest's QEMU process has KSM figures", style="dim")
    table = Table(box=None, padding=(0, 2), show_edge=False, header_style="bold")
    for title in ("guest", "merging pages", "saved", "profit", "zero pages"):
        table.add_column(title, justify="left" if title == "guest" else "right", no_wrap=True)
    ranked = sorted(reading.guests, key=lambda g: (-g.merging_pages, g.name))
    for guest in ranked[:TOP_GUESTS]:
        table.add_row(
            literal(guest.name),
            _n(guest.merging_pages),
            human_kib(guest.saved_kib),
            _bytes(guest.profit_bytes),
            _n(guest.zero_pages),
        )
    if len(ranked) > TOP_GUESTS:
        table.add_row(Text(f"… {len(ranked) - TOP_GUESTS} more", style="dim"))
    return table


def permissions_view(tuning: Permission, run: Permission) -> Text:
    def part(what: str, permission: Permission) -> Text:
        if permission.allowed:
            return Text(f"{what}: allowed", style="green")
        return Text(f"{what}: disabled: {printable(str(permission.reason))}", style="dim")

    return Text("\n").join([part("Tuning (p s n)", tuning), part("Run/stop/unmerge (r x u)", run)])


class KsmPanel(Vertical):
    """Everything the KSM screen shows for one host."""

    DEFAULT_CSS = """
    KsmPanel {
        height: auto;
        margin-bottom: 1;
        padding: 0 1;
        border-left: blank;
    }
    KsmPanel.-selected {
        border-left: thick $accent;
    }
    KsmPanel > Static {
        height: auto;
    }
    KsmPanel > .ksm-section {
        margin-top: 1;
    }
    """

    def __init__(self, label: str) -> None:
        super().__init__(classes="ksm-panel")
        self.label = label
        self.reading: KsmReading | None = None
        self.density: Density | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(title_text(self.label, None, False), classes="ksm-title")
        yield Static(figures_view(None, None), classes="ksm-figures")
        yield GraphRow("Saved", kib, id="ksm-graph")
        yield Static(guests_view(None), classes="ksm-guests ksm-section")
        yield Static("", classes="ksm-overcommit ksm-section")
        yield Static("", classes="ksm-permissions ksm-section")

    def show(
        self,
        *,
        reading: KsmReading | None,
        error: str | None,
        history: KsmHistory,
        density: Density | None,
        thresholds: Thresholds,
        tuning: Permission,
        run: Permission,
        selected: bool,
    ) -> None:
        self.reading, self.error, self.density = reading, error, density
        self.set_class(selected, "-selected")
        self.query_one(".ksm-title", Static).update(title_text(self.label, reading, selected))
        self.query_one(".ksm-figures", Static).update(figures_view(reading, error))
        self.query_one(GraphRow).set_series(history.saved_kib() if len(history) else None)
        self.query_one(".ksm-guests", Static).update(guests_view(reading))
        self.query_one(".ksm-overcommit", Static).update(
            Group(Text("Overcommit", style="bold"), overcommit_view(density, thresholds))
        )
        self.query_one(".ksm-permissions", Static).update(permissions_view(tuning, run))
