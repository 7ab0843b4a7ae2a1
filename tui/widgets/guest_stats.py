"""Details-screen sections fed by statistics: history graphs and per-device rates."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from backend.domxml import DomainLayout
from backend.history import HostHistory
from backend.stats import DeviceRates
from tui.format import UNKNOWN, count_text, rate_style, rate_text
from tui.widgets.graphs import GraphRow, kib, pct, per_second

#: (history metric, label, formatter, full-scale value or None for the series' max)
GUEST_GRAPHS = (
    ("cpu_pct", "CPU", pct, 100.0),
    ("mem_used_kib", "Memory used", kib, None),
    ("disk_rd_bps", "Disk read", per_second, None),
    ("disk_wr_bps", "Disk write", per_second, None),
    ("net_rx_bps", "Net receive", per_second, None),
    ("net_tx_bps", "Net send", per_second, None),
)


class _Section(Vertical):
    DEFAULT_CSS = """
    _Section {
        height: auto;
        margin-bottom: 1;
    }
    _Section > .section-title {
        text-style: bold;
        color: $accent;
    }
    """


class GuestGraphs(_Section):
    """The guest's recent history, one graph line per metric, newest at the right."""

    def __init__(self, uuid: str, memory_top_kib: int | None = None) -> None:
        super().__init__()
        self.uuid = uuid
        self.memory_top_kib = memory_top_kib
        self.ticks = 0

    def compose(self) -> ComposeResult:
        yield Static("History", classes="section-title")
        for metric, label, fmt, top in GUEST_GRAPHS:
            if metric == "mem_used_kib" and self.memory_top_kib:
                top = float(self.memory_top_kib)
            yield GraphRow(label, fmt, top=top, id=f"graph-{metric}")

    def show(self, history: HostHistory) -> None:
        self.ticks = history.ticks
        for metric, *_ in GUEST_GRAPHS:
            self.query_one(f"#graph-{metric}", GraphRow).set_series(
                history.guest(self.uuid, metric)
            )

    def series(self, metric: str) -> tuple[float | None, ...]:
        row = self.query_one(f"#graph-{metric}", GraphRow)
        return row.series.values if row.series is not None else ()


def _rates(rates: DeviceRates | None) -> list[Text]:
    if rates is None:
        return [Text(UNKNOWN, style="dim", justify="right") for _ in range(4)]
    out = [
        Text(rate_text(v), style=rate_style(v), justify="right")
        for v in (rates.in_bps, rates.out_bps)
    ]
    out += [
        Text(count_text(v), style=rate_style(v), justify="right")
        for v in (rates.in_ps, rates.out_ps)
    ]
    return out


def devices_table(
    layout: DomainLayout | None,
    disks: tuple[DeviceRates, ...],
    nics: tuple[DeviceRates, ...],
) -> Table:
    """Every disk and NIC, from the XML and from the statistics, with its own rates."""
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    for title, justify in (
        ("Device", "left"),
        ("Kind", "left"),
        ("Source / MAC", "left"),
        ("in B/s", "right"),
        ("out B/s", "right"),
        ("in /s", "right"),
        ("out /s", "right"),
    ):
        table.add_column(title, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    disk_rates = {d.name: d for d in disks}
    nic_rates = {n.name: n for n in nics}
    shown: set[str] = set()
    for disk in layout.disks if layout else ():
        shown.add(disk.target)
        kind = " ".join(p for p in (disk.device, disk.bus, disk.format) if p)
        table.add_row(
            disk.target, kind, disk.source or UNKNOWN, *_rates(disk_rates.get(disk.target))
        )
    for name, disk_rate in disk_rates.items():
        if name not in shown:
            table.add_row(name, "disk", UNKNOWN, *_rates(disk_rate))
    unmatched = [n for n in nics if not layout or all(x.target != n.name for x in layout.nics)]
    for nic in layout.nics if layout else ():
        nic_rate = nic_rates.get(nic.target) if nic.target else None
        if nic_rate is None and unmatched:
            nic_rate = unmatched.pop(0)  # not running yet under a known name: by order
        kind = " ".join(p for p in (nic.kind, nic.model) if p)
        source = f"{nic.mac or UNKNOWN}" + (f" on {nic.source}" if nic.source else "")
        name = nic.target or (nic_rate.name if nic_rate is not None else "nic")
        table.add_row(name, kind, source, *_rates(nic_rate))
    for nic_rate in unmatched:
        table.add_row(nic_rate.name, "nic", UNKNOWN, *_rates(nic_rate))
    return table


def _has_devices(layout: DomainLayout | None) -> bool:
    return layout is not None and bool(layout.disks or layout.nics)


class GuestDevices(_Section):
    """Disks and NICs: what they are (domain XML, read once) and their rates now.

    Disk columns are read/write bytes/s and requests/s; NIC columns receive/send
    bytes/s and packets/s.
    """

    def __init__(self) -> None:
        super().__init__()
        self.domain_layout: DomainLayout | None = None
        self.error: str | None = None
        self.disks: tuple[DeviceRates, ...] = ()
        self.nics: tuple[DeviceRates, ...] = ()

    def compose(self) -> ComposeResult:
        yield Static("Disks and network", classes="section-title")
        yield Static(Text("reading the guest's devices…", style="dim"), classes="section-body")

    def set_layout(self, layout: DomainLayout | None, error: str | None = None) -> None:
        self.domain_layout, self.error = layout, error
        self._redraw()

    def set_rates(self, disks: tuple[DeviceRates, ...], nics: tuple[DeviceRates, ...]) -> None:
        if (disks, nics) != (self.disks, self.nics):
            self.disks, self.nics = disks, nics
            self._redraw()

    def _redraw(self) -> None:
        if not self.is_mounted:
            return
        body = self.query_one(".section-body", Static)
        if self.error:
            body.update(Text(self.error, style="red"))
        elif self.domain_layout is None and not (self.disks or self.nics):
            body.update(Text("reading the guest's devices…", style="dim"))
        elif not (
            self.disks
            or self.nics
            or (self.domain_layout and (self.domain_layout.disks or self.domain_layout.nics))
        ):
            body.update(Text("no disks and no network interfaces", style="dim"))
        else:
            body.update(devices_table(self.domain_layout, self.disks, self.nics))
