"""A question for a file path (where to log a console, where to save a screen)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class PathScreen(ModalScreen[str | None]):
    """Asks for a path; dismisses with it, or None when cancelled or left empty."""

    DEFAULT_CSS = """
    PathScreen { align: center middle; }
    PathScreen > Vertical {
        width: 72; max-width: 100%; height: auto; padding: 1 2;
        border: thick $primary; background: $surface;
    }
    PathScreen Horizontal { height: auto; align-horizontal: right; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, prompt: str, suggestion: str, ok_label: str, input_id: str) -> None:
        super().__init__()
        self.prompt = prompt
        self.suggestion = suggestion
        self.ok_label = ok_label
        self.input_id = input_id

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.prompt)
            yield Input(value=self.suggestion, id=self.input_id)
            with Horizontal():
                yield Button(self.ok_label, variant="primary", id="ok")
                yield Button("Cancel (esc)", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        value = self.query_one(Input).value.strip()
        self.dismiss(value or None)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
