"""The guest list: one row per guest of every host, drawn with Textual's Line API.

A DataTable updated cell by cell cannot refresh 10,000 rows a tick (PERF-NOTES), so
this widget keeps its rows as plain data and draws only the visible lines: each row's
:class:`~textual.strip.Strip` is cached until its guest, its figures or the layout
change, and a tick repaints only the visible lines whose text changed.

Columns are chosen by width: the least useful ones are dropped first so the table
stays readable at 80 columns (see :data:`COLUMNS`, ``priority``). Line 0 is the
header; it stays put while the rows scroll, and clicking a title sorts by it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any, ClassVar, NamedTuple

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from kvmtui.backend.history import HostHistory
from kvmtui.backend.model import Guest
from kvmtui.backend.stats import GuestRates
from kvmtui.tui.format import (
    STATE_STYLES,
    UNKNOWN,
    count_text,
    cpu_time_text,
    memory_text,
    pct_style,
    pct_text,
    printable,
    rate_style,
    rate_text,
)
from kvmtui.tui.widgets.direct_lines import DirectLines, StyleFilter
from kvmtui.tui.widgets.sparkline import spark

#: Points of CPU history in the list's sparkline column.
SPARK_POINTS = 8

Cell = tuple[str, str]  # text, style
SortValue = float | str | None


def mem_pct(guest: Guest, rates: GuestRates | None) -> float | None:
    """Memory in use inside the guest as a share of the memory it has now."""
    if rates is None or rates.mem_used_kib is None:
        return None
    has = rates.mem_current_kib or guest.memory_kib
    return min(100.0, 100.0 * rates.mem_used_kib / has) if has else None


class Row(NamedTuple):
    """What one cell function gets: the guest, its latest figures, the table's modes."""

    guest: Guest
    rates: GuestRates | None
    requests: bool  # disk columns in requests/s instead of bytes/s
    history: HostHistory | None


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    width: int  # 0: as wide as the widest value (host, name)
    cell: Callable[[Row], Cell]
    sort_value: Callable[[Row], SortValue]
    priority: int  # the lowest is dropped first when the width runs out
    justify: str = "right"
    descending: bool = True  # the first click sorts biggest first
    requests_title: str | None = None  # the title while disk columns show requests/s
    #: The sort value from the figures alone, where it needs nothing else: sorting a
    #: thousand rows by it skips a Row and a call per row.
    rates_value: Callable[[GuestRates], SortValue] | None = None


def _rate(field: str) -> Callable[[Row], Cell]:
    value = attrgetter(field)  # C-level, no Python frame per cell

    def cell(row: Row) -> Cell:
        v = value(row.rates) if row.rates is not None else None
        return rate_text(v), rate_style(v)

    return cell


def _disk(
    bytes_value: Callable[[GuestRates], float | None],
    reqs_value: Callable[[GuestRates], float | None],
) -> tuple[Callable[[Row], Cell], Callable[[Row], SortValue]]:
    def cell(row: Row) -> Cell:
        if row.rates is None:
            return UNKNOWN, "dim"
        if row.requests:
            v = reqs_value(row.rates)
            return count_text(v), rate_style(v)
        v = bytes_value(row.rates)
        return rate_text(v), rate_style(v)

    def sort_value(row: Row) -> SortValue:
        if row.rates is None:
            return None
        return reqs_value(row.rates) if row.requests else bytes_value(row.rates)

    return cell, sort_value


def _of(value: Callable[[GuestRates], Any]) -> Callable[[Row], SortValue]:
    return lambda row: value(row.rates) if row.rates is not None else None


_CPU_PCT = attrgetter("cpu_pct")
_NET_RX = attrgetter("net_rx_bps")
_NET_TX = attrgetter("net_tx_bps")
_CPU_TIME = attrgetter("cpu_time_s")


def _cpu_cell(row: Row) -> Cell:
    pct = row.rates.cpu_pct if row.rates is not None else None
    return pct_text(pct), pct_style(pct)


def _mem_cell(row: Row) -> Cell:
    pct = mem_pct(row.guest, row.rates)
    return pct_text(pct), pct_style(pct)


def _time_cell(row: Row) -> Cell:
    seconds = row.rates.cpu_time_s if row.rates is not None else None
    return cpu_time_text(seconds), "" if seconds is not None else "dim"


def _vcpus_cell(row: Row) -> Cell:
    vcpus = row.guest.vcpus  # None while the host reads it (a fast listing: see Guest)
    return (str(vcpus), "") if vcpus is not None else (UNKNOWN, "dim")


def _memory_cell(row: Row) -> Cell:
    current, most = row.guest.memory_kib, row.guest.max_memory_kib
    if current is None or most is None:
        return UNKNOWN, "dim"
    return memory_text(current, most), ""


#: After the state of a running guest whose saved definition differs from what runs.
PENDING_SIGN = "↻"
_STATE_WIDTH = 11


def _state_cell(row: Row) -> Cell:
    """The state; ``running ↻`` when changes wait for a restart (the state shortened to
    keep the sign where the column is too narrow for both)."""
    guest = row.guest
    text = guest.state.value
    if guest.pending:
        room = _STATE_WIDTH - 2
        text = f"{text if len(text) <= room else text[: room - 1] + '…'} {PENDING_SIGN}"
    return text, STATE_STYLES[guest.state]


def _spark_cell(row: Row) -> Cell:
    if row.history is None:
        return " " * SPARK_POINTS, ""
    values = row.history.guest_tail(row.guest.uuid, "cpu_pct", SPARK_POINTS)
    return spark(values, SPARK_POINTS, top=100.0), "green"


_RD, _RD_SORT = _disk(attrgetter("disk_rd_bps"), attrgetter("disk_rd_reqs_ps"))
_WR, _WR_SORT = _disk(attrgetter("disk_wr_bps"), attrgetter("disk_wr_reqs_ps"))

COLUMNS: tuple[Column, ...] = (
    Column("host", "Host", 0, lambda r: (printable(r.guest.host), ""), lambda r: r.guest.host,
           35, "left", descending=False),
    Column("name", "Name", 0, lambda r: (printable(r.guest.name), ""),
           lambda r: r.guest.name.casefold(), 100, "left", descending=False),
    Column("state", "State", _STATE_WIDTH, _state_cell, lambda r: r.guest.state.value, 90,
           "left", descending=False),
    Column("vcpus", "vCPUs", 5, _vcpus_cell, lambda r: r.guest.vcpus, 30),
    Column("memory", "Memory", 16, _memory_cell, lambda r: r.guest.memory_kib, 20),
    Column("cpu", "%CPU", 5, _cpu_cell, _of(_CPU_PCT), 80, rates_value=_CPU_PCT),
    Column("cpu_hist", "CPU hist", SPARK_POINTS, _spark_cell, _of(_CPU_PCT), 45, "left",
           rates_value=_CPU_PCT),
    Column("mem", "%MEM", 5, _mem_cell, lambda r: mem_pct(r.guest, r.rates), 65),
    Column("disk_rd", "RDBY/s", 7, _RD, _RD_SORT, 70, requests_title="RDRQ/s"),
    Column("disk_wr", "WRBY/s", 7, _WR, _WR_SORT, 70, requests_title="WRRQ/s"),
    Column("net_rx", "RXBY/s", 7, _rate("net_rx_bps"), _of(_NET_RX), 60, rates_value=_NET_RX),
    Column("net_tx", "TXBY/s", 7, _rate("net_tx_bps"), _of(_NET_TX), 60, rates_value=_NET_TX),
    Column("time", "TIME", 8, _time_cell, _of(_CPU_TIME), 50, rates_value=_CPU_TIME),
    Column("autostart", "Autostart", 9, lambda r: ("yes" if r.guest.autostart else "-", ""),
           lambda r: int(r.guest.autostart), 10, "left"),
)  # fmt: skip
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
#: Narrowest the name column gets before other columns are dropped.
NAME_MIN = 16
NAME_MAX = 32
#: Columns of live figures: sorting by one wants every guest's figures fresh.
FIGURE_COLUMNS = frozenset(
    {"cpu", "cpu_hist", "mem", "disk_rd", "disk_wr", "net_rx", "net_tx", "time"}
)
#: The sort keys virt-top users know: P, M, T, N.
SORT_KEYS = {"cpu": "cpu", "memory": "mem", "time": "time", "name": "name"}


class _Key(NamedTuple):
    value: str


class _OrderedRow(NamedTuple):
    key: _Key


def _fit(text: str, width: int, justify: str) -> str:
    """``text`` in exactly ``width`` cells: padded, or cut with an ellipsis.

    Cells as Rich counts them (wide, combining and zero-width characters), never
    characters: a cut falling inside a wide character leaves a space. ``text`` holds no
    control characters (see :func:`~kvmtui.tui.format.printable`).
    """
    length = len(text) if text.isascii() else cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, width)
    pad = " " * (width - length)
    return pad + text if justify == "right" else text + pad


class _Slot(NamedTuple):
    """A shown column at the current width, as a row is built from it."""

    cell: Callable[[Row], Cell]
    width: int
    right: bool  # right-justified


_FIRST = itemgetter(0)




_MARK_STYLE = Style(bold=True, color="yellow")


class GuestTable(DirectLines, ScrollView, can_focus=True):
    """Guests of all hosts, sorted (host then name by default) and filtered by name.

    Once the admin moves the cursor it stays on that guest while rows come, go and
    re-sort; until then it stays on the first row (hosts connect in any order). ``enter``
    posts :class:`Selected`; moving the cursor posts :class:`CursorMoved`.
    """

    DEFAULT_CSS = """
    GuestTable {
        background: $surface;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
    }
    GuestTable > .guest-table--header {
        text-style: bold;
        background: $panel;
    }
    GuestTable > .guest-table--sorted {
        text-style: bold;
        color: $accent;
        background: $panel;
    }
    GuestTable > .guest-table--cursor {
        background: $block-cursor-blurred-background;
    }
    GuestTable:focus > .guest-table--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
    }
    """
    #: Rows are built from styles already through the app's line filters (StyleFilter).
    prefiltered: ClassVar[bool] = True
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "guest-table--header",
        "guest-table--sorted",
        "guest-table--cursor",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        # Not in the footer (no room at 80 columns); help and the palette list them.
        Binding("enter", "select_cursor", "Details", show=False),
        Binding("down,j", "cursor_down", "Cursor down", show=False),
        Binding("up,k", "cursor_up", "Cursor up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("home", "first", "First guest", show=False),
        Binding("end", "last", "Last guest", show=False),
    ]

    class Selected(Message):
        """Enter (or a double click) on a guest."""

        def __init__(self, table: GuestTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> GuestTable:
            return self.table

    class VisibleChanged(Message):
        """Other guests are on screen now (scroll, resize, sort, filter, new rows).

        ``keys`` are the shown rows' ``Guest.key``; the statistics pollers read these
        guests every tick and the others less often.
        """

        def __init__(self, table: GuestTable, keys: frozenset[str]) -> None:
            super().__init__()
            self.table = table
            self.keys = keys

        @property
        def control(self) -> GuestTable:
            return self.table

        def by_host(self) -> dict[str, set[str]]:
            """The shown guests' UUIDs per host label."""
            shown: dict[str, set[str]] = {}
            for key in self.keys:
                host, _, uuid = key.rpartition("/")
                shown.setdefault(host, set()).add(uuid)
            return shown

    class Sorted(Message):
        """The rows are sorted by another column or the other way round."""

        def __init__(self, table: GuestTable, column: str, descending: bool) -> None:
            super().__init__()
            self.table = table
            self.column = column
            self.descending = descending

        @property
        def control(self) -> GuestTable:
            return self.table

        @property
        def by_figure(self) -> bool:
            """Sorted by a live figure (%CPU, memory, rates, CPU time)."""
            return self.column in FIGURE_COLUMNS

    class CursorMoved(Message):
        """The cursor is on another guest (or on none)."""

        def __init__(self, table: GuestTable, key: str | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> GuestTable:
            return self.table

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._guests: dict[str, Guest] = {}
        self._rates: dict[str, GuestRates] = {}
        self._histories: dict[str, HostHistory] = {}
        self._ticks: dict[str, int] = {}
        self._filter = ""
        self._order: list[str] = []
        #: The shown keys by host and name (the filter applied), until guests or the
        #: filter change; a statistics sort starts from it. Never changed in place.
        self._base_order: list[str] | None = None
        self._index: dict[str, int] = {}
        self._cursor = 0
        #: The admin put the cursor on a guest (a key, a click, ``move_cursor``): from then
        #: on it follows that guest. Until then it stays on the first row while hosts
        #: connect in whatever order and their rows come in above it.
        self._chosen = False
        self._sort = "name"
        self._descending = False
        self._requests = False
        self._strips: dict[str, Strip] = {}
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._layout: list[tuple[Column, int]] = []
        self._slots: tuple[_Slot, ...] = ()
        self._layout_width = -1
        self._name_width = 4
        self._host_width = 4
        self._base_style: Style | None = None
        self._header_strip: Strip | None = None
        #: The cursor row: the row's own strip, the cursor's style, the row in that style.
        self._cursor_strip: tuple[Strip, Style, Strip] | None = None
        # row style -> cell style name -> combined Style; Style.__add__ is not free.
        self._combined: dict[Style, dict[str, Style]] = {}
        self._styles: dict[Style, Style] = {}
        self._style_filter = StyleFilter()
        self._visible: frozenset[str] | None = None  # the rows on screen, as last reported
        self._marked: set[str] = set()  # guests marked for an action on several at once

    # -- what the screen reads -------------------------------------------------------

    @property
    def selected_key(self) -> str | None:
        if not self._order:
            return None
        return self._order[min(self._cursor, len(self._order) - 1)]

    @property
    def selected_guest(self) -> Guest | None:
        key = self.selected_key
        return self._guests.get(key) if key else None

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def filter_text(self) -> str:
        return self._filter

    @property
    def sort_column(self) -> str:
        return self._sort

    @property
    def sort_descending(self) -> bool:
        return self._descending

    @property
    def disk_requests(self) -> bool:
        """True while the disk columns show requests/s (virt-top's ``B``)."""
        return self._requests

    def guest(self, key: str) -> Guest | None:
        return self._guests.get(key)

    def rates(self, key: str) -> GuestRates | None:
        """The latest figures of a guest, if a tick has brought any."""
        return self._rates.get(key)

    def stats_tick(self, host: str) -> int | None:
        """The number of the latest tick shown for ``host``."""
        return self._ticks.get(host)

    def all_guests(self) -> list[Guest]:
        """Every guest the table knows, shown or filtered out."""
        return list(self._guests.values())

    def guests_of(self, host: str) -> list[Guest]:
        return [g for g in self._guests.values() if g.host == host]

    def ordered_keys(self) -> list[str]:
        """Row keys (``Guest.key``) in the order the rows show them."""
        return list(self._order)

    @property
    def ordered_rows(self) -> list[_OrderedRow]:
        """DataTable-style rows (``row.key.value``) for code written against DataTable."""
        return [_OrderedRow(_Key(k)) for k in self._order]

    def shown_names(self) -> list[str]:
        """Guest names in the order the rows show them."""
        return [self._guests[k].name for k in self._order]

    def get_row_index(self, key: str) -> int:
        return self._index[key]

    def column_titles(self) -> list[str]:
        """The titles of the columns shown at the current width."""
        return [self._title(c) for c, _ in self._columns()]

    def all_column_titles(self) -> list[str]:
        return [self._title(c) for c in COLUMNS]

    def get_cell(self, key: str, column: str) -> Text:
        text, style = COLUMN_BY_KEY[column].cell(self._row(key))
        return Text(text, style=style)

    def get_row_at(self, index: int) -> list[Text]:
        """Every column's cell of the row at ``index``, shown or not, in COLUMNS order."""
        row = self._row(self._order[index])
        return [Text(text, style=style) for text, style in (c.cell(row) for c in COLUMNS)]

    def row_text(self, key: str) -> str:
        """The row as drawn now (the shown columns), for tests and logs."""
        return "".join(s.text for s in self._strip(key))

    # -- what the screen changes -----------------------------------------------------

    def load_host(self, host: str, guests: Iterable[Guest]) -> None:
        """Replace every row of ``host``.

        No call per row beyond what building the dict needs: only the rows drawn so
        far (those on screen) have strips to forget."""
        kept = {k: g for k, g in self._guests.items() if g.host != host}
        replaced = self._guests.keys() - kept.keys()
        kept.update((g.key, g) for g in guests)
        self._guests = kept
        for key in [k for k in self._strips.keys() | self._cells.keys() if k in replaced]:
            self._forget(key)
        for key in replaced - kept.keys():  # gone while the host was away: its figures too
            self._rates.pop(key, None)
        self._resync()

    def update_guest(self, guest: Guest) -> None:
        before = self._guests.get(guest.key)
        self._guests[guest.key] = guest
        if before is not None and before.name == guest.name and guest.key in self._index:
            # The common event: same row; re-sort only if the sort column moved it.
            self._forget(guest.key)
            if self._sort in ("name", "host"):
                self.refresh_line(self._index[guest.key] + 1)
            else:
                self._reorder()
            return
        self._resync()

    def toggle_mark(self, key: str) -> bool:
        """Mark or unmark a guest (shown as ``*`` before its row); True when now marked."""
        marked = key not in self._marked
        if marked:
            self._marked.add(key)
        else:
            self._marked.discard(key)
        self._forget(key)
        index = self._index.get(key)
        if index is not None and self.is_mounted:
            self.refresh_line(index + 1)
        return marked

    def marked_guests(self) -> list[Guest]:
        """The marked guests that still exist, in the order the rows show them."""
        return [self._guests[k] for k in self._order if k in self._marked] + [
            self._guests[k] for k in sorted(self._marked - set(self._order)) if k in self._guests
        ]

    def remove_guest(self, key: str) -> None:
        self._marked.discard(key)
        if self._guests.pop(key, None) is not None:
            self._rates.pop(key, None)
            self._forget(key)
            self._resync()

    def set_filter(self, text: str) -> None:
        """Show only guests whose name contains ``text`` (case-insensitive)."""
        text = text.strip()
        if text != self._filter:
            self._filter = text
            self._resync()

    def visible_keys(self) -> frozenset[str]:
        """The keys of the rows on screen now."""
        top = int(self.scroll_y)
        return frozenset(self._order[top : top + self._page()])

    def update_stats(
        self,
        host: str,
        tick: int,
        rates: Sequence[GuestRates],
        history: HostHistory | None,
        *,
        complete: bool = True,
    ) -> None:
        """A tick of ``host``: new figures for its guests; repaint what changed on screen.

        ``complete`` is False when the tick read only some guests (those on screen):
        a statistics sort then keeps its order until the next complete tick, so rows
        do not jump on a mix of fresh and older figures.
        """
        prefix = f"{host}/"
        store = self._rates
        guests = self._guests
        for rate in rates:
            key = prefix + rate.uuid
            if key in guests:  # a tick read before an undefine must not bring it back
                store[key] = rate
        self._ticks[host] = tick
        if history is not None:
            self._histories[host] = history
        # Every row of the host may have changed: forget their strips (cheap), and
        # draw again only the visible ones whose cells differ.
        strips = self._strips
        for rate in rates:
            _release(strips.pop(prefix + rate.uuid, None))
        if complete and self._sort not in ("name", "host", "state"):
            self._reorder()
            return
        self._refresh_visible_changes(host)

    def sort_by(self, column: str, descending: bool | None = None) -> None:
        """Sort by a column key; the same column again reverses the order."""
        spec = COLUMN_BY_KEY[column]
        if descending is None:
            descending = not self._descending if column == self._sort else spec.descending
        self._sort, self._descending = column, descending
        self._header_strip = None
        self._reorder()
        self.refresh()
        self.post_message(self.Sorted(self, column, descending))

    def toggle_disk_unit(self) -> None:
        """Disk columns in bytes/s or requests/s (virt-top's ``B``)."""
        self._requests = not self._requests
        self._invalidate()

    def move_cursor(self, *, row: int, animate: bool = False) -> None:
        self._set_cursor(row)

    # -- actions -----------------------------------------------------------------------

    def action_cursor_down(self) -> None:
        self._set_cursor(self._cursor + 1)

    def action_cursor_up(self) -> None:
        self._set_cursor(self._cursor - 1)

    def action_page_down(self) -> None:
        self._turn_page(self._page())

    def action_page_up(self) -> None:
        self._turn_page(-self._page())

    def action_first(self) -> None:
        self._set_cursor(0)

    def action_last(self) -> None:
        self._set_cursor(len(self._order) - 1)

    def action_select_cursor(self) -> None:
        key = self.selected_key
        if key is not None:
            self.post_message(self.Selected(self, key))

    # -- mouse ---------------------------------------------------------------------------

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            column = self._column_at(offset.x)
            if column is not None:
                self.sort_by(column.key)
            return
        index = int(self.scroll_y) + offset.y - 1
        if 0 <= index < len(self._order):
            self._set_cursor(index)
            if event.chain >= 2:
                self.action_select_cursor()

    # -- drawing -------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._invalidate()
        self._update_virtual_size()
        # A scroll clamped by the old height may leave the cursor off screen.
        self.call_after_refresh(self._scroll_to_cursor)
        self._report_visible()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if int(old_value) != int(new_value):
            self._report_visible()

    def _report_visible(self) -> None:
        """Tell the screen when other guests come on screen (it tells the pollers)."""
        if not self.is_mounted:
            return
        keys = self.visible_keys()
        if keys != self._visible:
            self._visible = keys
            self.post_message(self.VisibleChanged(self, keys))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base_style = None
        self._header_strip = None
        self._strips.clear()

    @property
    def base_style(self) -> Style:
        """The widget's own style, computed once (``rich_style`` walks the DOM)."""
        if self._base_style is None:
            self._base_style = self.rich_style
        return self._base_style

    def render_line(self, y: int) -> Strip:
        return self._line(y, self.scrollable_content_region.width, self.base_style)

    def direct_lines(self, lines: range) -> list[Strip]:
        if self._style_filter.sync(self.get_line_filters(), self.background_colors[1]):
            # Another theme or colour mode: every strip was built with stale styles.
            self._restyle()
        width, base = self.scrollable_content_region.width, self.base_style
        return [self._line(y, width, base) for y in lines]

    def _line(self, y: int, width: int, base: Style) -> Strip:
        self._plan(width)
        if y == 0:
            if self._header_strip is None:
                header = self._header(width).apply_style(base)
                self._header_strip = self._style_filter.strip(header)
            return self._header_strip
        index = int(self.scroll_y) + y - 1
        if index >= len(self._order):
            return self._style_filter.strip(Strip.blank(width, base))
        key = self._order[index]
        strip = self._strip(key, width)
        if index == self._cursor:
            # Focus changes the cursor's style without touching the rows: part of the key.
            style = base + self.get_component_rich_style("guest-table--cursor")
            cursor = self._cursor_strip
            if cursor is None or cursor[0] is not strip or cursor[1] != style:
                if cursor is not None:
                    _release(cursor[2])
                built = self._build(self._cells[key], style, width, marked=key in self._marked)
                cursor = self._cursor_strip = (strip, style, built)
            return cursor[2]
        return strip

    def _columns(self, width: int | None = None) -> list[tuple[Column, int]]:
        """The shown columns and their widths at ``width`` (default: the current one)."""
        self._plan(self.scrollable_content_region.width if width is None else width)
        return self._layout

    def _plan(self, width: int) -> tuple[_Slot, ...]:
        """The row plan at ``width``: the shown columns, each cell's width and side.

        Every cached row (cells, strips, the cursor's, the header) was built from the
        plan of one width, and a new width drops them here, where the width is read: the
        compositor draws a resized screen before the widget handles its Resize event,
        and a scrollbar coming or going changes the width without one. A row built for
        another width has other cells than the plan that draws it (issue 17).
        """
        if width != self._layout_width:
            self._layout = self._fit_columns(width)
            self._slots = tuple(_Slot(c.cell, w, c.justify == "right") for c, w in self._layout)
            self._layout_width = width
            self._drop_rows()
        return self._slots

    def _fit_columns(self, width: int) -> list[tuple[Column, int]]:
        many_hosts = len({g.host for g in self._guests.values()}) > 1
        widths = {c.key: c.width for c in COLUMNS}
        widths["host"] = self._host_width
        widths["name"] = max(NAME_MIN, min(self._name_width, NAME_MIN))

        def priority(c: Column) -> int:
            return 85 if c.key == "host" and many_hosts else c.priority

        shown = list(COLUMNS)
        while len(shown) > 1 and 1 + sum(widths[c.key] + 1 for c in shown) > width:
            shown.remove(min(shown, key=priority))
        spare = width - 1 - sum(widths[c.key] + 1 for c in shown)
        widths["name"] += max(0, min(spare, min(self._name_width, NAME_MAX) - widths["name"]))
        return [(c, widths[c.key]) for c in shown]

    def _title(self, column: Column) -> str:
        if self._requests and column.requests_title:
            return column.requests_title
        return column.title

    def _header(self, width: int) -> Strip:
        header = self.get_component_rich_style("guest-table--header")
        sorted_style = self.get_component_rich_style("guest-table--sorted")
        segments = [Segment(" ", header)]
        for column, cells in self._columns(width):
            title = self._title(column)
            style = header
            if column.key == self._sort:
                title += "▼" if self._descending else "▲"
                style = sorted_style
            segments.append(Segment(_fit(title, cells, column.justify), style))
            segments.append(Segment(" ", header))
        return Strip(segments).adjust_cell_length(width, header)

    def _row(self, key: str) -> Row:
        guest = self._guests[key]
        return Row(guest, self._rates.get(key), self._requests, self._histories.get(guest.host))

    def _cells_of(self, key: str, width: int) -> tuple[Cell, ...]:
        row = self._row(key)
        return tuple([slot.cell(row) for slot in self._plan(width)])

    def _strip(self, key: str, width: int | None = None) -> Strip:
        if width is None:
            width = self.scrollable_content_region.width
        self._plan(width)
        strip = self._strips.get(key)
        if strip is not None:
            return strip
        cells = self._cells_of(key, width)
        self._cells[key] = cells
        strip = self._strips[key] = self._build(
            cells, self.base_style, width, marked=key in self._marked
        )
        return strip

    def _canonical(self, style: Style) -> Style:
        """One object for equal styles, so that ``_build`` compares them by identity."""
        return self._styles.setdefault(style, style)

    def _build(
        self, cells: tuple[Cell, ...], row_style: Style, width: int, *, marked: bool = False
    ) -> Strip:
        """One line of cells, each cell's style over ``row_style``, as one Strip (each
        Strip carries its own caches: making one per row, not three, halves a tick).
        The first column is the mark: ``*`` for a marked guest."""
        # Neighbours of one style become one Segment: fewer segments for every later
        # pass (the compositor's cuts, the driver), which is most of a repaint. The
        # space after a cell takes the cell's style (no style here underlines, strikes
        # or reverses, so a styled space looks like a plain one): a run of dim cells is
        # one segment, not one per cell and one per space. Every style is through the
        # app's line filters already (``prefiltered``): a new row costs no filter pass.
        final = self._style_filter
        by_name = self._combined.get(row_style)
        if by_name is None:
            by_name = self._combined[row_style] = {"": self._canonical(final(row_style))}
        plain = by_name[""]
        segments: list[Segment] = []
        texts: list[str] = ["*" if marked else " "]
        current = self._canonical(final(row_style + _MARK_STYLE)) if marked else plain
        length = 1
        for (_, cell_width, right), (text, style_name) in zip(
            self._plan(width), cells, strict=True
        ):
            style = by_name.get(style_name)
            if style is None:
                style = by_name[style_name] = self._canonical(final(row_style + _style(style_name)))
            if style is not current:  # equal styles are one object: see _canonical
                segments.append(Segment("".join(texts), current))
                texts, current = [], style
            if len(text) <= cell_width and text.isascii():  # the common case, in C
                texts.append((text.rjust(cell_width) if right else text.ljust(cell_width)) + " ")
            else:
                texts.append(_fit(text, cell_width, "right" if right else "left") + " ")
            length += cell_width + 1
        if length < width:
            texts.append(" " * (width - length))
        segments.append(Segment("".join(texts), current))
        if length > width:
            return Strip(segments, length).crop(0, width)
        return Strip(segments, width)

    def _refresh_visible_changes(self, host: str | None = None) -> None:
        """Repaint the visible lines whose cells changed (strips already forgotten).

        Whole lines: refreshing only the changed cells of each line sent the terminal
        a fifth fewer bytes but cost Textual's compositor 1.5-2.5 ms more a tick at 47
        rows (a region per line to cut and merge instead of whole lines)."""
        if not self.is_mounted:
            return
        top = int(self.scroll_y)
        width = self.scrollable_content_region.width
        cells = self._cells
        changed: list[int] = []
        for index in range(top, min(len(self._order), top + self._page() + 1)):
            key = self._order[index]
            if key in self._strips:
                continue
            before = cells.get(key)
            self._strip(key, width)
            if cells[key] != before:
                changed.append(index - top + 1)
        if changed:
            # One refresh for the tick: each call of refresh() has a fixed cost (it
            # clears the widget's caches and re-checks idle), 47 calls were ~3 ms.
            line_width = max(self.virtual_size.width, self.size.width)
            self.refresh(*(Region(0, y, line_width, 1) for y in changed))

    def _forget(self, key: str) -> None:
        _release(self._strips.pop(key, None))
        self._cells.pop(key, None)

    def _invalidate(self) -> None:
        self._layout_width = -1
        self._restyle()

    def _restyle(self) -> None:
        """Build every line again (styles changed), and repaint."""
        self._base_style = None
        self._combined.clear()
        self._styles.clear()
        self._drop_rows()
        self.refresh()

    def _drop_rows(self) -> None:
        """Forget every built line; the next draw builds them again."""
        self._cells.clear()
        self._strips.clear()
        self._header_strip = None
        self._cursor_strip = None

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _column_at(self, x: int) -> Column | None:
        left = 1
        for column, width in self._columns():
            if left <= x < left + width + 1:
                return column
            left += width + 1
        return None

    # -- order and cursor ----------------------------------------------------------------

    def _resync(self) -> None:
        """Guests or the filter changed: measure the columns again and re-sort.

        Once per row and per list at most, at 10,000 rows: names measured by ``len``
        where ASCII (``cell_len`` is ten times dearer), each host's label once."""
        self._base_order = None
        guests = self._guests.values()
        names = [g.name for g in guests]
        if "".join(names).isascii():  # one check in C for the usual case
            name_width = max(map(len, names), default=4)
        else:
            name_width = max(map(cell_len, names), default=4)
        host_width = max((cell_len(h) for h in {g.host for g in guests}), default=4)
        if (name_width, host_width) != (self._name_width, self._host_width):
            self._name_width, self._host_width = max(4, name_width), max(4, host_width)
            self._invalidate()
        self._reorder()

    def _reorder(self) -> None:
        selected = self.selected_key
        keys = self._base_order
        if keys is None:
            text = self._filter.casefold()
            guests = self._guests
            # Decorated once per row: a key function per row cost twice as much.
            decorated = [
                ((g.host, g.name.casefold()), k)
                for k, g in guests.items()
                if not text or text in g.name.casefold()
            ]
            decorated.sort(key=_FIRST)  # stable: equal names keep the hosts' order
            keys = self._base_order = [k for _, k in decorated]
        if self._sort != "name" or self._descending:
            keys = self._sorted(keys)
        order_changed = keys != self._order
        self._order = keys
        if order_changed:
            self._index = {k: i for i, k in enumerate(keys)}
        self._update_virtual_size()
        if self._chosen and selected is not None and selected in self._index:
            self._cursor = self._index[selected]
        else:
            self._cursor = min(self._cursor, max(0, len(keys) - 1))
        if order_changed:
            self.refresh()
            self._scroll_to_cursor()
            if self.selected_key != selected:
                self.post_message(self.CursorMoved(self, self.selected_key))
            self._report_visible()
        else:
            self._refresh_visible_changes()

    def _sorted(self, keys: list[str]) -> list[str]:
        """Stable sort by the sort column; unknown values always last."""
        column = COLUMN_BY_KEY[self._sort]
        by_rates = column.rates_value
        if by_rates is not None:  # no Row per guest: a thousand rows re-sort each round
            figures = self._rates.get
            values = [by_rates(f) if (f := figures(k)) is not None else None for k in keys]
        else:
            values = [column.sort_value(self._row(k)) for k in keys]
        known: list[tuple[Any, str]] = []
        unknown: list[str] = []
        for key, value in zip(keys, values, strict=True):
            if value is None:
                unknown.append(key)
            else:
                known.append((value, key))
        known.sort(key=_FIRST, reverse=self._descending)
        return [k for _, k in known] + unknown

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._order) + 1)

    def _set_cursor(self, row: int) -> None:
        if not self._order:
            return
        self._chosen = True
        row = max(0, min(row, len(self._order) - 1))
        if row == self._cursor:
            return
        old, self._cursor = self._cursor, row
        self.refresh_line(old + 1)
        self.refresh_line(row + 1)
        self._scroll_to_cursor()
        self.post_message(self.CursorMoved(self, self.selected_key))

    def _turn_page(self, rows: int) -> None:
        """Scroll a page and move the cursor as far: it keeps its line on screen. (Moving
        the cursor alone scrolled the view by one row on the first press from the top.)
        ``force``: the scroll bar may not be laid out yet just after the rows came."""
        if not self._order:
            return
        if self.is_mounted:
            self.scroll_to(y=int(self.scroll_y) + rows, animate=False, force=True)
        self._set_cursor(self._cursor + rows)

    def _scroll_to_cursor(self) -> None:
        if not self.is_mounted:
            return
        top = int(self.scroll_y)
        page = self._page()
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False)
        elif self._cursor >= top + page:
            self.scroll_to(y=self._cursor - page + 1, animate=False)


def _release(strip: Strip | None) -> None:
    """Free a replaced row's strip now rather than at the next garbage collection.

    Textual's ``Strip.divide`` caches ``[self]`` in the strip itself when the cut is its
    own end, which the compositor asks of every line it draws: a reference cycle, so
    each repainted row (47 a tick) waited for the cycle collector, about 1-2 ms a tick
    at 1,000 guests. Clearing that cache breaks the cycle; it is only a cache.
    """
    cache = getattr(strip, "_divide_cache", None)
    if cache is not None:
        cache.clear()


_STYLES: dict[str, Style] = {}


def _style(name: str) -> Style:
    style = _STYLES.get(name)
    if style is None:
        style = _STYLES[name] = Style.parse(name) if name else Style()
    return style
