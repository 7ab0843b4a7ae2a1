"""Asks for one new KSM setting: the current value beside the new one, checked as typed."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from kvmtui.backend.errors import KvmtuiError


class KsmTuneScreen(ModalScreen[str | None]):
    """Dismisses with the typed text once ``check`` accepts it; escape cancels.

    ``check`` raises KvmtuiError with the reason a value is refused (nothing is sent).
    """

    CSS_PATH = "ksm.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, host: str, title: str, current: int | None, hint: str, check: Callable[[str], int]
    ) -> None:
        super().__init__()
        self.host = host
        self.setting = title
        self.current = current
        self.hint = hint
        self.check = check

    def compose(self) -> ComposeResult:
        now = "-" if self.current is None else str(self.current)
        with Vertical(classes="dialog"):
            yield Static(f"KSM {self.setting} on {self.host}", classes="question")
            yield Static(f"current: {now}   ({self.hint})", id="tune-current")
            # The field has its own labelled row and the refusal a row apart below it,
            # so a message never reads as if it stood in the field's place.
            with Horizontal(classes="field"):
                yield Label("new value", classes="field-label")
                yield Input(
                    value=now if self.current is not None else "", id="tune-new", compact=True
                )
            yield Static("", id="tune-error")

    def on_mount(self) -> None:
        self.query_one("#tune-new", Input).focus()

    @property
    def error_text(self) -> str:
        return str(self.query_one("#tune-error", Static).render())

    @on(Input.Submitted, "#tune-new")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            self.check(event.value)
        except KvmtuiError as exc:
            self.query_one("#tune-error", Static).update(f"{exc} Nothing was changed.")
            return
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
