"""The overcommit thresholds: from which ratio a figure turns yellow, and from which red."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from kvmtui.backend.overcommit import Thresholds, parse_thresholds

FIELDS = (
    ("cpu_warn", "vCPU warning"),
    ("cpu_critical", "vCPU critical"),
    ("mem_warn", "memory warning"),
    ("mem_critical", "memory critical"),
)


class ThresholdsScreen(ModalScreen[Thresholds | None]):
    """Four ratios; enter in any field applies them all if they make sense."""

    CSS_PATH = "ksm.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: Thresholds) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Overcommit thresholds (ratios, e.g. 1.5)", classes="question")
            with Grid(id="threshold-grid"):
                for key, label in FIELDS:
                    yield Label(label)
                    yield Input(value=f"{getattr(self.current, key):g}", id=key, compact=True)
            yield Static("", id="threshold-error")

    def on_mount(self) -> None:
        self.query_one(f"#{FIELDS[0][0]}", Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        texts = [self.query_one(f"#{key}", Input).value for key, _ in FIELDS]
        try:
            thresholds = parse_thresholds(*texts)
        except ValueError as exc:
            self.query_one("#threshold-error", Static).update(f"{exc} Nothing was changed.")
            return
        self.dismiss(thresholds)

    def action_cancel(self) -> None:
        self.dismiss(None)
