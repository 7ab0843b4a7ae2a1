"""The guest list: one row per guest of every host, updated in place by row key."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.console import JustifyMethod
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from backend.model import Guest
from tui.format import STATE_STYLES, memory_text


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    cell: Callable[[Guest], str]
    width: int | None = None  # None: as wide as the widest value when rows are added
    justify: JustifyMethod = "left"
    style: Callable[[Guest], str] | None = None


COLUMNS: tuple[Column, ...] = (
    Column("host", "Host", lambda g: g.host),
    Column("name", "Name", lambda g: g.name),
    Column(
        "state", "State", lambda g: g.state.value, width=11, style=lambda g: STATE_STYLES[g.state]
    ),
    Column("vcpus", "vCPUs", lambda g: str(g.vcpus), width=5, justify="right"),
    Column(
        "memory",
        "Memory",
        lambda g: memory_text(g.memory_kib, g.max_memory_kib),
        width=15,
        justify="right",
    ),
    Column("autostart", "Autostart", lambda g: "yes" if g.autostart else "-", width=9),
)

#: What one cell shows: its text and its style.
CellSpec = tuple[str, str]


def cell_specs(guest: Guest) -> tuple[CellSpec, ...]:
    return tuple((c.cell(guest), c.style(guest) if c.style else "") for c in COLUMNS)


def _render(column: Column, spec: CellSpec) -> Text:
    text, style = spec
    return Text(text, style=style, justify=column.justify)


def sort_key(guest: Guest) -> tuple[str, str]:
    return (guest.host, guest.name.casefold())


class GuestTable(DataTable[Text]):
    """Guests of all hosts sorted by host then name, filtered by a name substring.

    Changes are applied as a diff: rows are added and removed by key (``Guest.key``),
    and only cells whose text or style changed are rewritten. The cursor stays on
    the same guest while rows come, go and move.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # Not in the footer (no room at 80 columns); help and the palette list it.
        Binding("enter", "select_cursor", "Details", show=False),
        Binding("j", "cursor_down", "Cursor down", show=False),
        Binding("k", "cursor_up", "Cursor up", show=False),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, id=id, classes=classes)
        self._guests: dict[str, Guest] = {}
        self._shown: dict[str, tuple[CellSpec, ...]] = {}
        self._filter = ""

    def on_mount(self) -> None:
        for column in COLUMNS:
            label = Text(column.label, justify=column.justify)
            self.add_column(label, key=column.key, width=column.width)
        self._sync()  # guests handed over before the table was mounted

    # -- what the screen reads -------------------------------------------------------

    @property
    def selected_guest(self) -> Guest | None:
        key = self.selected_key
        return self._guests.get(key) if key else None

    @property
    def selected_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            row_key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return row_key.value

    @property
    def filter_text(self) -> str:
        return self._filter

    def guest(self, key: str) -> Guest | None:
        return self._guests.get(key)

    def all_guests(self) -> list[Guest]:
        """Every guest the table knows, shown or filtered out."""
        return list(self._guests.values())

    def guests_of(self, host: str) -> list[Guest]:
        return [g for g in self._guests.values() if g.host == host]

    def shown_names(self) -> list[str]:
        """Guest names in the order the rows show them."""
        return [self._guests[row.key.value].name for row in self.ordered_rows if row.key.value]

    # -- what the screen changes -----------------------------------------------------

    def load_host(self, host: str, guests: Iterable[Guest]) -> None:
        """Replace every row of ``host``."""
        for key in [k for k, g in self._guests.items() if g.host == host]:
            del self._guests[key]
        for guest in guests:
            self._guests[guest.key] = guest
        self._sync()

    def update_guest(self, guest: Guest) -> None:
        before = self._guests.get(guest.key)
        self._guests[guest.key] = guest
        if (
            self.is_mounted
            and before is not None
            and before.name == guest.name
            and guest.key in self._shown
        ):
            # The common event: same row, same place; rewrite only its changed cells.
            with self.app.batch_update():
                self._show(guest)
            return
        self._sync()

    def remove_guest(self, key: str) -> None:
        if self._guests.pop(key, None) is not None:
            self._sync()

    def set_filter(self, text: str) -> None:
        """Show only guests whose name contains ``text`` (case-insensitive)."""
        text = text.strip()
        if text != self._filter:
            self._filter = text
            self._sync()

    # -- the diff ----------------------------------------------------------------------

    def _matches(self, guest: Guest) -> bool:
        return self._filter.casefold() in guest.name.casefold()

    def _sync(self) -> None:
        if not self.is_mounted:
            return
        wanted = sorted((g for g in self._guests.values() if self._matches(g)), key=sort_key)
        wanted_keys = {g.key for g in wanted}
        selected = self.selected_key
        with self.app.batch_update():
            for key in [k for k in self._shown if k not in wanted_keys]:
                del self._shown[key]
                self.remove_row(key)
            for guest in wanted:
                self._show(guest)
            order = [g.key for g in wanted]
            if [row.key.value for row in self.ordered_rows] != order:
                self.sort("host", "name", key=lambda host_name: sort_key_cells(*host_name))
            if selected in wanted_keys:
                row = self.get_row_index(selected)
                if row != self.cursor_row:
                    self.move_cursor(row=row, animate=False)

    def _show(self, guest: Guest) -> None:
        specs = cell_specs(guest)
        old = self._shown.get(guest.key)
        self._shown[guest.key] = specs
        if old is None:
            cells = [_render(c, s) for c, s in zip(COLUMNS, specs, strict=True)]
            self.add_row(*cells, key=guest.key)
            return
        for column, new, before in zip(COLUMNS, specs, old, strict=True):
            if new != before:
                # Only a rename can need a wider column; that is rare, not a refresh loop.
                self.update_cell(
                    guest.key,
                    column.key,
                    _render(column, new),
                    update_width=column.key == "name",
                )


def sort_key_cells(host: Text, name: Text) -> tuple[str, str]:
    return (host.plain, name.plain.casefold())
