"""The storage screen's two tables (pools, then the chosen pool's volumes) and its
thin-provisioning line."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import DataTable

from kvmtui.backend.storage import Pool, PoolState, Volume
from kvmtui.tui.format import human_kib, literal, printable

POOL_STATE_STYLES = {
    PoolState.RUNNING: "green",
    PoolState.INACTIVE: "dim",
    PoolState.BUILDING: "yellow",
    PoolState.DEGRADED: "bold red",
    PoolState.INACCESSIBLE: "bold red",
}


def size_text(size_bytes: int | None) -> str:
    return "-" if size_bytes is None else human_kib(size_bytes // 1024)


def promised_style(ratio: float | None) -> str:
    """Thin pools: yellow once volumes promise more than the pool has, red past twice."""
    if ratio is None:
        return "dim"
    if ratio > 2:
        return "bold red"
    return "yellow" if ratio > 1 else "green"


def ratio_text(ratio: float | None) -> Text:
    return Text("-" if ratio is None else f"{ratio:.2f}x", style=promised_style(ratio))


def pool_key(pool: Pool) -> str:
    return f"{pool.host}/{pool.name}"


class PoolTable(DataTable[str | Text]):
    """One row per pool of every host."""

    #: Fixed widths: a row never reflows the others, and the header never lags the rows.
    #: The Host column only shows when there are several hosts.
    COLUMNS: tuple[tuple[str, int], ...] = (
        ("Host", 18), ("Pool", 14), ("Type", 6), ("State", 12), ("Auto", 4),
        ("Capacity", 9), ("Allocation", 10), ("Available", 9), ("Promised", 9),
        ("Prom/Cap", 8),
    )  # fmt: skip
    #: Left out in this order while the columns are wider than the table (99 cells with
    #: one host, 80 columns on the terminal): the line under the table gives the chosen
    #: pool's type and what its volumes hold and promise.
    NARROW_DROPS = ("Auto", "Type", "Allocation", "Available", "Promised")

    def __init__(self, *, show_host: bool = True, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.show_host = show_host
        self.pools: dict[str, Pool] = {}
        self.shown_columns: tuple[str, ...] = ()

    def columns_for(self, width: int) -> tuple[str, ...]:
        """The columns shown in ``width`` cells: all that fit, dropping NARROW_DROPS."""
        widths = dict(self.COLUMNS)
        titles = [title for title in widths if title != "Host" or self.show_host]
        for drop in self.NARROW_DROPS:
            if sum(widths[t] + 2 * self.cell_padding for t in titles) <= width:
                break
            titles.remove(drop)
        return tuple(titles)

    def on_mount(self) -> None:
        self._set_columns(self.columns_for(self.size.width or self.app.size.width))

    def on_resize(self) -> None:
        wanted = self.columns_for(self.size.width)
        if wanted != self.shown_columns:
            chosen = self.selected_pool
            self._set_columns(wanted)
            self._fill(pool_key(chosen) if chosen else None)

    def _set_columns(self, titles: tuple[str, ...]) -> None:
        widths = dict(self.COLUMNS)
        self.clear(columns=True)
        for title in titles:
            self.add_column(title, key=title, width=widths[title])
        self.shown_columns = titles

    @property
    def selected_pool(self) -> Pool | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.pools.get(key or "")

    def show(self, pools: Iterable[Pool]) -> None:
        """Replace every row, keeping the cursor on the same pool when it is still there."""
        chosen = self.selected_pool
        self.pools = {pool_key(p): p for p in pools}
        self.clear()
        self._fill(pool_key(chosen) if chosen else None)

    def _fill(self, keep: str | None) -> None:
        for key, pool in sorted(self.pools.items()):
            cells: dict[str, str | Text] = {
                "Host": literal(pool.host),
                "Pool": literal(pool.name),
                "Type": literal(pool.type),
                "State": Text(pool.state.value, style=POOL_STATE_STYLES[pool.state]),
                "Auto": "yes" if pool.autostart else "-",
                "Capacity": size_text(pool.capacity_bytes),
                "Allocation": size_text(pool.allocation_bytes),
                "Available": size_text(pool.available_bytes),
                "Promised": size_text(pool.promised_bytes) if pool.active else "-",
                "Prom/Cap": (ratio_text(pool.promised_ratio) if pool.active else Text("-", "dim")),
            }
            self.add_row(*(cells[title] for title in self.shown_columns), key=key)
        if keep is not None and keep in self.pools:
            self.move_cursor(row=self.get_row_index(keep), animate=False)


def allocated_text(volume: Volume) -> Text:
    ratio = volume.allocated_ratio
    if ratio is None:
        return Text("-", style="dim")
    return Text(f"{ratio * 100:.1f}%", style="green" if ratio < 0.5 else "")


class VolumeTable(DataTable[str | Text]):
    """The chosen pool's volumes: how much each promises and holds, and who uses it."""

    #: Fixed widths but the path's, which is last and may be long.
    COLUMNS: tuple[tuple[str, int | None], ...] = (
        ("Volume", 24), ("Format", 6), ("Capacity", 10), ("On disk", 10), ("Alloc", 6),
        ("Used by", 18), ("Path", None),
    )  # fmt: skip

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.volumes: dict[str, Volume] = {}

    def on_mount(self) -> None:
        for title, width in self.COLUMNS:
            self.add_column(title, key=title, width=width)

    @property
    def selected_volume(self) -> Volume | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.volumes.get(key or "")

    def show(self, volumes: Iterable[Volume]) -> None:
        chosen = self.selected_volume
        self.volumes = {v.name: v for v in volumes}
        self.clear()
        for name, volume in sorted(self.volumes.items()):
            self.add_row(
                literal(name),
                literal(volume.format or "-"),
                size_text(volume.capacity_bytes),
                size_text(volume.allocation_bytes),
                allocated_text(volume),
                literal(volume.used_by or "-", style="bold" if volume.users else "dim"),
                literal(volume.path),
                key=name,
            )
        if chosen is not None and chosen.name in self.volumes:
            self.move_cursor(row=self.get_row_index(chosen.name), animate=False)


def thin_text(pool: Pool | None) -> Text:
    """One line on the chosen pool: what its volumes promise against what it has."""
    if pool is None:
        return Text("no pool", style="dim")
    where = f"{pool.name} on {pool.host} ({pool.type}{', ' + pool.path if pool.path else ''})"
    where = printable(where)
    if not pool.active:
        return Text.assemble((where, "bold"), ": ", ("not running; s starts it", "dim"))
    promised, real = pool.promised_bytes, pool.capacity_bytes
    ratio = pool.promised_ratio
    beyond = promised - real
    allocated = sum(v.allocation_bytes for v in pool.volumes)
    parts: list[str | tuple[str, str]] = [
        (where, "bold"),
        f": {len(pool.volumes)} {'volume' if len(pool.volumes) == 1 else 'volumes'} promise "
        f"{size_text(promised)} of {size_text(real)} real ",
        (f"({'-' if ratio is None else f'{ratio:.2f}x'})", promised_style(ratio)),
    ]
    if beyond > 0:
        parts.append((f", {size_text(beyond)} beyond what exists", promised_style(ratio)))
    parts.append(f"; they hold {size_text(allocated)} on disk.")
    return Text.assemble(*parts)
