"""Details-screen sections fed by statistics: history graphs and per-device rates."""

from __future__ import annotations

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from kvmtui.backend.domain.layout import DomainLayout
from kvmtui.backend.history import HostHistory
from kvmtui.backend.stats import DeviceRates
from kvmtui.tui.format import UNKNOWN, count_text, rate_style
from kvmtui.tui.widgets.graphs import GraphRow, kib, pct, per_second

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
        rows = {row.id: row for row in self.query(GraphRow)}
        if not rows:
            # Not composed yet, or already torn down (a screen mounted while the app
            # shuts down): nothing to draw into.
            return
        for metric, *_ in GUEST_GRAPHS:
            rows[f"graph-{metric}"].set_series(history.guest(self.uuid, metric))

    def series(self, metric: str) -> tuple[float | None, ...]:
        row = self.query_one(f"#graph-{metric}", GraphRow)
        return row.series.values if row.series is not None else ()


#: Padding between and inside cells. Its meta makes it a style of its own, so the
#: compositor never merges it into the neighbouring text: every cell starts at its own
#: column in any rendering (an SVG viewer that draws spaces narrower included).
_PAD = Style(meta={"cell-pad": True})
#: The longest source path or network name shown; longer ones keep their end.
SOURCE_MAX = 36

Cell = tuple[str, str]  # text, style
_TableColumn = tuple[str, str]  # title, "left" | "right"

DISK_COLUMNS: tuple[_TableColumn, ...] = (
    ("Disk", "left"),
    ("Type", "left"),
    ("Source", "left"),
    ("Read", "right"),
    ("Write", "right"),
    ("Rd req/s", "right"),
    ("Wr req/s", "right"),
)
NIC_COLUMNS: tuple[_TableColumn, ...] = (
    ("NIC", "left"),
    ("MAC", "left"),
    ("Type", "left"),
    ("Network", "left"),
    ("Receive", "right"),
    ("Send", "right"),
    ("Rx pkt/s", "right"),
    ("Tx pkt/s", "right"),
)


def _rate_cells(rates: DeviceRates | None) -> list[Cell]:
    if rates is None:
        return [(UNKNOWN, "dim")] * 4
    return [(per_second(v), rate_style(v)) for v in (rates.in_bps, rates.out_bps)] + [
        (count_text(v), rate_style(v)) for v in (rates.in_ps, rates.out_ps)
    ]


def _short(text: str | None) -> str:
    if not text:
        return UNKNOWN
    return text if len(text) <= SOURCE_MAX else "…" + text[-(SOURCE_MAX - 1) :]


def aligned_table(columns: tuple[_TableColumn, ...], rows: list[list[Cell]]) -> Text:
    """A header and rows in columns as wide as their widest cell, two spaces apart."""
    widths = [
        max([cell_len(title), *(cell_len(row[i][0]) for row in rows)])
        for i, (title, _) in enumerate(columns)
    ]
    lines = [[(title, "bold") for title, _ in columns], *rows]
    out = Text(no_wrap=True, overflow="crop")
    for n, cells in enumerate(lines):
        if n:
            out.append("\n")
        for i, ((text, style), (_, justify), width) in enumerate(
            zip(cells, columns, widths, strict=True)
        ):
            pad = " " * (width - cell_len(text))
            if i:
                out.append("  ", _PAD)
            if justify == "right" and pad:
                out.append(pad, _PAD)
            out.append(text, style)
            if justify == "left" and pad and i < len(columns) - 1:
                out.append(pad, _PAD)
    return out


def device_rows(
    layout: DomainLayout | None,
    disks: tuple[DeviceRates, ...],
    nics: tuple[DeviceRates, ...],
) -> tuple[list[list[Cell]], list[list[Cell]]]:
    """The disk rows and the NIC rows: the XML's devices matched with the statistics'."""
    disk_rates = {d.name: d for d in disks}
    disk_rows: list[list[Cell]] = []
    shown: set[str] = set()
    for disk in layout.disks if layout else ():
        shown.add(disk.target)
        kind = " ".join(p for p in (disk.device, disk.bus, disk.format) if p)
        disk_rows.append(
            [(disk.target, ""), (kind, ""), (_short(disk.source), "" if disk.source else "dim"),
             *_rate_cells(disk_rates.get(disk.target))]
        )  # fmt: skip
    for name, disk_rate in disk_rates.items():
        if name not in shown:
            disk_rows.append([(name, ""), ("disk", ""), (UNKNOWN, "dim"), *_rate_cells(disk_rate)])

    nic_rates = {n.name: n for n in nics}
    nic_rows: list[list[Cell]] = []
    unmatched = [n for n in nics if not layout or all(x.target != n.name for x in layout.nics)]
    for nic in layout.nics if layout else ():
        nic_rate = nic_rates.get(nic.target) if nic.target else None
        if nic_rate is None and unmatched:
            nic_rate = unmatched.pop(0)  # not running yet under a known name: by order
        kind = " ".join(p for p in (nic.kind, nic.model) if p)
        name = nic.target or (nic_rate.name if nic_rate is not None else "nic")
        nic_rows.append(
            [(name, ""), (nic.mac or UNKNOWN, "" if nic.mac else "dim"), (kind, ""),
             (_short(nic.source), "" if nic.source else "dim"), *_rate_cells(nic_rate)]
        )  # fmt: skip
    for nic_rate in unmatched:
        nic_rows.append(
            [(nic_rate.name, ""), (UNKNOWN, "dim"), ("nic", ""), (UNKNOWN, "dim"),
             *_rate_cells(nic_rate)]
        )  # fmt: skip
    return disk_rows, nic_rows


def devices_table(
    layout: DomainLayout | None,
    disks: tuple[DeviceRates, ...],
    nics: tuple[DeviceRates, ...],
) -> Text:
    """Every disk, then every NIC, each kind in its own aligned table with its rates."""
    disk_rows, nic_rows = device_rows(layout, disks, nics)
    parts = []
    if disk_rows:
        parts.append(aligned_table(DISK_COLUMNS, disk_rows))
    if nic_rows:
        parts.append(aligned_table(NIC_COLUMNS, nic_rows))
    return Text("\n\n", no_wrap=True, overflow="crop").join(parts)


def _has_devices(layout: DomainLayout | None) -> bool:
    return layout is not None and bool(layout.disks or layout.nics)


class GuestDevices(_Section):
    """Disks and NICs: what they are (domain XML, read once) and their rates now.

    Disks: read/write bytes/s and requests/s; NICs: receive/send bytes/s and
    packets/s, each kind in its own aligned table.
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
