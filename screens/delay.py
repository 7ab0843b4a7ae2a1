"""A small question: the new statistics refresh interval, validated before it applies."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from kvmtui.tui.polling import parse_delay


class DelayScreen(ModalScreen[float | None]):
    """Type seconds and enter; a bad value says why and changes nothing; escape cancels."""

    CSS_PATH = "delay.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: float) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(
                f"Refresh statistics every how many seconds? (now {self.current:g}; at least 0.1)",
                classes="question",
            )
            yield Input(value=f"{self.current:g}", id="delay", compact=True)
            yield Static("", id="delay-error")

    def on_mount(self) -> None:
        self.query_one("#delay", Input).focus()

    @property
    def error_text(self) -> str:
        return str(self.query_one("#delay-error", Static).render())

    @on(Input.Submitted, "#delay")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            seconds = parse_delay(event.value)
        except ValueError as exc:
            self.query_one("#delay-error", Static).update(f"{exc} Nothing was changed.")
            return
        self.dismiss(seconds)

    def action_cancel(self) -> None:
        self.dismiss(None)
