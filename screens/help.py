"""Every key of a screen with what it does, read from that screen's bindings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


@dataclass(frozen=True, slots=True)
class HelpRow:
    keys: str  # as the footer shows them, several joined by ", "
    description: str
    disabled_because: str | None = None


def help_table(rows: Sequence[HelpRow]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column("keys", style="bold", no_wrap=True)
    table.add_column("description")
    for row in rows:
        description = Text(row.description)
        if row.disabled_because:
            description.append(f"  (disabled: {row.disabled_because})", style="dim italic")
        table.add_row(Text(row.keys, style="dim" if row.disabled_because else ""), description)
    return table


class HelpScreen(ModalScreen[None]):
    """The keys of the screen below it; escape closes."""

    CSS_PATH = "help.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, title: str, rows: Sequence[HelpRow], note: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.rows = tuple(rows)
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            title = Text.assemble((self.title_text, "bold"), ("   escape closes", "dim"))
            yield Static(title, classes="title")
            if self.note:
                yield Static(self.note, classes="note")
            with VerticalScroll():
                yield Static(help_table(self.rows), classes="keys")

    def action_close(self) -> None:
        self.dismiss(None)
