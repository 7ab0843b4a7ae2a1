"""Questions asked before an action that cannot be undone."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ConfirmScreen(ModalScreen[bool | None]):
    """A yes/no question; dismisses with True only for yes.

    A question whose no is itself a choice (keep the volume, say) names it with
    ``no_label``; with ``escape_cancels`` escape then dismisses with None, cancelling
    the whole action, rather than answering no."""

    CSS_PATH = "confirm.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(
        self,
        question: str,
        yes_label: str = "Yes",
        *,
        no_label: str = "Cancel",
        escape_cancels: bool = False,
    ) -> None:
        super().__init__()
        self.question = question
        self.yes_label = yes_label
        self.no_label = no_label
        self.escape_cancels = escape_cancels

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="question")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes_label} (y)", variant="error", id="yes")
                yield Button(f"{self.no_label} (n)", id="no")

    def on_mount(self) -> None:
        # The safe answer has the focus: Enter right after the key cancels.
        self.query_one("#no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def action_cancel(self) -> None:
        self.dismiss(None if self.escape_cancels else False)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class TypeToConfirmScreen(ModalScreen[bool]):
    """Asks the admin to type the guest's name; True only when it matches exactly."""

    CSS_PATH = "confirm.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, expected_name: str, question: str | None = None) -> None:
        super().__init__()
        self.expected_name = expected_name
        self.question = question or f"This cannot be undone. Type '{expected_name}' to confirm."

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="question")
            yield Input(placeholder=self.expected_name, id="typed-name")
            yield Label("", id="mismatch")
            with Horizontal(classes="buttons"):
                yield Button("Confirm", variant="error", id="yes")
                yield Button("Cancel (esc)", id="no")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Input.Submitted)
    @on(Button.Pressed, "#yes")
    def _confirm(self) -> None:
        typed = self.query_one(Input).value
        if typed == self.expected_name:
            self.dismiss(True)
            return
        mismatch = self.query_one("#mismatch", Label)
        mismatch.update(f"That is not '{self.expected_name}'; nothing was changed.")
        mismatch.add_class("-shown")
        self.query_one(Input).focus()

    @on(Button.Pressed, "#no")
    def _cancel(self) -> None:
        self.dismiss(False)
