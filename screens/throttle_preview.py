"""What a limits change will do, old beside new, asked before anything is sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


@dataclass(frozen=True, slots=True)
class PreviewRow:
    label: str
    live: str  # the value in force on the running guest ("" when that side is not touched)
    config: str  # the value in the saved configuration ("" likewise)
    new: str


class ThrottlePreviewScreen(ModalScreen[bool]):
    """Old beside new; dismisses True only when the admin applies."""

    CSS_PATH = "throttle.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Apply"),
        Binding("n", "answer(False)", "Cancel"),
        Binding("escape", "answer(False)", "Cancel"),
    ]

    def __init__(
        self,
        title: str,
        rows: Sequence[PreviewRow],
        note: str = "",
        *,
        show_live: bool = True,
        show_config: bool = True,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.rows = tuple(rows)
        self.note = note
        self.show_live = show_live
        self.show_config = show_config

    def _table(self) -> Table:
        table = Table(box=None, padding=(0, 2), show_edge=False, header_style="bold")
        table.add_column("Setting", no_wrap=True)
        if self.show_live:
            table.add_column("Live now", justify="right", no_wrap=True)
        if self.show_config:
            table.add_column("Saved now", justify="right", no_wrap=True)
        table.add_column("New", justify="right", no_wrap=True, style="bold")
        for row in self.rows:
            cells = [row.label]
            if self.show_live:
                cells.append(row.live)
            if self.show_config:
                cells.append(row.config)
            cells.append(row.new)
            table.add_row(*cells)
        return table

    def compose(self) -> ComposeResult:
        with Vertical(classes="preview-dialog"):
            yield Static(self.title_text, classes="preview-title")
            yield Static(self._table(), id="preview-table")
            if self.note:
                yield Static(self.note, classes="preview-note")
            with Horizontal(classes="preview-buttons"):
                yield Button("Apply (y)", variant="warning", id="apply")
                yield Button("Cancel (n)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()  # Enter right after the key cancels

    def action_answer(self, apply: bool) -> None:
        self.dismiss(apply)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "apply")
