"""A question for a file path (where to log a console, where to save a screen), or a
number (a running migration's speed and downtime). Given a ``refusal``
(screens/refusal.py) it says why an answer is refused and stays open with it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from kvmtui.screens.refusal import Refusal, error_line, refused


class PathScreen(ModalScreen[str | None]):
    """Asks for a path; dismisses with it, or None when cancelled or left empty."""

    DEFAULT_CSS = """
    PathScreen { align: center middle; }
    PathScreen > Vertical {
        width: 72; max-width: 100%; height: auto; padding: 1 2;
        border: thick $primary; background: $surface;
    }
    PathScreen Horizontal { height: auto; align-horizontal: right; }
    PathScreen .error { color: $error; text-style: bold; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        prompt: str,
        suggestion: str,
        ok_label: str,
        input_id: str,
        *,
        refusal: Refusal[str] | None = None,
    ) -> None:
        super().__init__()
        self.prompt = prompt
        self.suggestion = suggestion
        self.ok_label = ok_label
        self.input_id = input_id
        self.refusal = refusal

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.prompt)
            yield Input(value=self.suggestion, id=self.input_id)
            yield error_line()
            with Horizontal():
                yield Button(self.ok_label, variant="primary", id="ok")
                yield Button("Cancel (esc)", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        value = self.query_one(Input).value.strip()
        if value and refused(self, self.refusal, value):
            return
        self.dismiss(value or None)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def file_refusal(text: str) -> str | None:
    """Why a new or existing file cannot be written at path ``text`` on this machine: a
    folder, a missing folder, a folder without write permission. The write can still
    fail (a full disk); its caller says so."""
    path = Path(text).expanduser()
    folder = path.parent
    if path.is_dir():
        return f"{path} is a folder; name a file in it."
    if not folder.is_dir():
        return f"The folder {folder} does not exist."
    if not os.access(path if path.exists() else folder, os.W_OK):
        return f"No permission to write {path if path.exists() else 'in ' + str(folder)}."
    return None


def count_refusal(text: str) -> str | None:
    """Why ``text`` is not a whole number of 0 or more."""
    number = text.strip()
    if number.isascii() and number.isdigit():
        return None
    return f"'{number}' is not a whole number (0 or more)."
