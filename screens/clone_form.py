"""The clone form (``C`` on a shut-off or paused guest): the new name, full copy or
linked clone, the pool for the copies, and what happens to each disk. The source is read
in a worker when the form opens; the name is checked as it is typed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, RadioButton, RadioSet, Select, Static

from kvmtui.backend import clone
from kvmtui.backend.clone import CloneRequest, CloneSource, Mode
from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.guest_name import check_guest_name
from kvmtui.backend.host import Host
from kvmtui.tui.widgets.storage_tables import size_text
from kvmtui.tui.workers import work


@dataclass
class SourceRead(Message, bubble=False):
    """The guest to clone as read, or the sentence why it could not be."""

    source: CloneSource | None
    error: str | None = None


class CloneFormScreen(ModalScreen[CloneRequest | None]):
    """``CloneFormScreen(host, uuid, name)``: dismisses with the request, or None."""

    CSS_PATH = "clone_form.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Clone"),
    ]

    def __init__(self, host: Host, uuid: str, name: str) -> None:
        super().__init__()
        self.host = host
        self.uuid = uuid
        self.guest_name = name
        self.source: CloneSource | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Clone '{self.guest_name}' on {self.host.label}", classes="question")
            with Grid(id="clone-grid"):
                yield Label("name")
                yield Input(value=f"{self.guest_name}-clone", id="clone-name", compact=True,
                            disabled=True)  # fmt: skip
                yield Label("disks")
                with RadioSet(id="clone-mode", compact=True, disabled=True):
                    yield RadioButton("full copy (independent)", value=True, id="mode-full")
                    yield RadioButton("linked clone (qcow2 overlay on this guest's disks)",
                                      id="mode-linked")  # fmt: skip
                yield Label("pool")
                yield Select[str]([], prompt="(reading pools)", id="clone-pool", compact=True,
                                  disabled=True)  # fmt: skip
            yield Static("Reading the guest…", id="clone-disks")
            yield Static("", id="clone-warning")
            yield Static("enter or ctrl+s: clone · esc: cancel", classes="hint")
            yield Static("", id="clone-error")

    def on_mount(self) -> None:
        self._read(self.host, self.uuid)

    @work(doing=lambda self, host, uuid: f"reading guest '{self.guest_name}' to clone it",
          group="clone-read")  # fmt: skip
    def _read(self, host: Host, uuid: str) -> None:
        try:
            self.post_message(SourceRead(clone.read_source(host, uuid)))
        except KvmtuiError as exc:
            self.post_message(SourceRead(None, str(exc)))

    def on_source_read(self, message: SourceRead) -> None:
        source = message.source
        if source is None:
            self._say_error(f"{message.error} Nothing was changed.")
            self.query_one("#clone-disks", Static).update("")
            return
        self.source = source
        name = self.query_one("#clone-name", Input)
        name.value = source.suggested_name()
        name.disabled = False
        modes = self.query_one("#clone-mode", RadioSet)
        modes.disabled = False
        linked = self.query_one("#mode-linked", RadioButton)
        linked.disabled = source.linked_refusal is not None
        pools = self.query_one("#clone-pool", Select)
        pools.set_options(
            [(f"{p.name} ({size_text(p.available)} free)", p.name) for p in source.pools]
        )
        if source.default_pool is not None:
            pools.value = source.default_pool
        pools.disabled = not source.copies
        self._show_plan()
        notes = [n for n in (source.warning, self._linked_note(), source.refusal and
                             f"Cannot clone now: {source.refusal}.", source.disk_refusal and
                             f"Cannot clone: {source.disk_refusal}.") if n]  # fmt: skip
        self.query_one("#clone-warning", Static).update("\n".join(notes))
        name.focus()
        self._check_name()

    def _linked_note(self) -> str | None:
        if self.source is not None and self.source.linked_refusal:
            return f"Linked clone: not offered, {self.source.linked_refusal}."
        return None

    @property
    def mode(self) -> Mode:
        return Mode.LINKED if self.query_one("#mode-linked", RadioButton).value else Mode.FULL

    @property
    def error_text(self) -> str:
        return str(self.query_one("#clone-error", Static).render())

    @property
    def disks_text(self) -> str:
        return str(self.query_one("#clone-disks", Static).render())

    def _show_plan(self) -> None:
        if self.source is None:
            return
        lines = [disk.summary(self.mode) for disk in self.source.disks] or ["no disks"]
        if self.mode is Mode.LINKED and self.source.copies:
            lines.append(
                f"'{self.source.name}' then asks before it starts: its disks become the base."
            )
        if self.source.nvram:
            lines.append("NVRAM: copied")
        self.query_one("#clone-disks", Static).update("\n".join(lines))

    @on(RadioSet.Changed)
    def _mode_changed(self) -> None:
        self._show_plan()

    def _say_error(self, text: str) -> None:
        self.query_one("#clone-error", Static).update(text)

    @on(Input.Changed, "#clone-name")
    def _check_name(self) -> str | None:
        if self.source is None:
            return None
        try:
            name = check_guest_name(self.query_one("#clone-name", Input).value, self.source.taken)
        except KvmtuiError as exc:
            self._say_error(str(exc))
            return None
        self._say_error("")
        return name

    @on(Input.Submitted)
    def action_submit(self) -> None:
        source = self.source
        if source is None:
            return
        name = self._check_name()
        if name is None:
            return
        refusal = source.refusal or source.disk_refusal
        if refusal:
            self._say_error(f"Cannot clone '{source.name}': {refusal}.")
            return
        pool = self.query_one("#clone-pool", Select).value
        chosen = pool if isinstance(pool, str) else None
        self.dismiss(CloneRequest(name, self.mode, chosen))

    def action_cancel(self) -> None:
        self.dismiss(None)
