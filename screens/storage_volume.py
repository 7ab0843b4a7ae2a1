"""The new-volume and grow-volume form: name, size, format, sparse; checked as submitted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Select, Static

from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.storage import VOLUME_FORMATS, Pool, Volume, parse_size, validate_name
from kvmtui.tui.widgets.storage_tables import size_text


@dataclass(frozen=True, slots=True)
class VolumeRequest:
    """What the admin asked for; the backend checks it again before sending."""

    name: str
    capacity: str
    format: str = "qcow2"
    sparse: bool = True


class VolumeFormScreen(ModalScreen[VolumeRequest | None]):
    """``VolumeFormScreen(pool)`` creates; ``VolumeFormScreen(pool, volume)`` grows one."""

    CSS_PATH = "storage.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, pool: Pool, volume: Volume | None = None) -> None:
        super().__init__()
        self.pool = pool
        self.volume = volume

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            if self.volume is None:
                yield Static(
                    f"New volume in pool '{self.pool.name}' on {self.pool.host} "
                    f"({size_text(self.pool.available_bytes)} available)",
                    classes="question",
                )
                with Grid(id="volume-grid"):
                    yield Label("name")
                    yield Input(placeholder="disk1.qcow2", id="volume-name", compact=True)
                    yield Label("capacity")
                    yield Input(value="10G", id="volume-capacity", compact=True)
                    yield Label("format")
                    yield Select(
                        [(f, f) for f in VOLUME_FORMATS],
                        value="qcow2",
                        allow_blank=False,
                        id="volume-format",
                        compact=True,
                    )
                    yield Label("sparse")
                    yield Checkbox("allocate on write", value=True, id="volume-sparse")
            else:
                yield Static(
                    f"Grow volume '{self.volume.name}' in pool '{self.pool.name}' "
                    f"(now {size_text(self.volume.capacity_bytes)})",
                    classes="question",
                )
                with Grid(id="volume-grid"):
                    yield Label("new capacity")
                    yield Input(
                        value=size_text(self.volume.capacity_bytes)
                        .replace(" ", "")
                        .replace("iB", ""),
                        id="volume-capacity",
                        compact=True,
                    )
            yield Static("enter: go · esc: cancel", classes="hint")
            yield Static("", id="volume-error")

    def on_mount(self) -> None:
        first = "#volume-name" if self.volume is None else "#volume-capacity"
        self.query_one(first, Input).focus()

    @property
    def error_text(self) -> str:
        return str(self.query_one("#volume-error", Static).render())

    @on(Input.Submitted)
    def _submitted(self) -> None:
        capacity = self.query_one("#volume-capacity", Input).value
        try:
            if self.volume is not None:
                parse_size(capacity)
                self.dismiss(VolumeRequest(self.volume.name, capacity.strip()))
                return
            name = validate_name(self.query_one("#volume-name", Input).value, self.pool)
            parse_size(capacity)
        except KvmtuiError as exc:
            self.query_one("#volume-error", Static).update(f"{exc} Nothing was changed.")
            return
        fmt = self.query_one("#volume-format", Select).value
        sparse = self.query_one("#volume-sparse", Checkbox).value
        self.dismiss(VolumeRequest(name, capacity.strip(), str(fmt), sparse))

    def action_cancel(self) -> None:
        self.dismiss(None)
