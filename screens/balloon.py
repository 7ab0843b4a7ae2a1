"""A small question: how often the guest's balloon driver reports memory in use."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Static

from kvmtui.backend.balloon import MAX_PERIOD_S, Balloon, parse_period
from kvmtui.backend.throttle import Scope


class BalloonPeriodScreen(ModalScreen[tuple[int, Scope] | None]):
    """Seconds and enter; a bad value says why and changes nothing; escape cancels.

    A running guest changes now (and, if ticked, in its saved configuration); a guest
    that is not running changes in its saved configuration, from its next boot.
    """

    CSS_PATH = "balloon.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, name: str, balloon: Balloon | None, *, running: bool, persistent: bool):
        super().__init__()
        self.guest_name = name
        self.balloon = balloon
        self.running = running
        self.persistent = persistent

    def compose(self) -> ComposeResult:
        now = self.balloon.period_s if self.balloon is not None else None
        with Vertical(classes="dialog"):
            yield Static(
                f"How often should {self.guest_name}'s balloon driver report its memory in "
                f"use, in seconds? Now: {f'every {now} s' if now else 'no period set'}. "
                f"0 stops the reports; at most {MAX_PERIOD_S}.",
                classes="question",
            )
            yield Input(value=str(now or 5), id="period", compact=True)
            if self.running and self.persistent:
                yield Checkbox(
                    "Keep it in the saved configuration too", id="period-config", compact=True
                )
            elif not self.running:
                yield Static(
                    "The guest is not running: this goes to its saved configuration.",
                    classes="note",
                )
            yield Static("", id="period-error")

    def on_mount(self) -> None:
        self.query_one("#period", Input).focus()

    @property
    def error_text(self) -> str:
        return str(self.query_one("#period-error", Static).render())

    def scope(self) -> Scope:
        if not self.running:
            return Scope.CONFIG
        boxes = self.query("#period-config").results(Checkbox)
        return Scope.BOTH if any(box.value for box in boxes) else Scope.LIVE

    @on(Input.Submitted, "#period")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            seconds = parse_period(event.value)
        except ValueError as exc:
            self.query_one("#period-error", Static).update(f"{exc} Nothing was changed.")
            return
        self.dismiss((seconds, self.scope()))

    def action_cancel(self) -> None:
        self.dismiss(None)
