"""The agent panel's forms: a program to run, a password to set, a raw command to send.

Each form checks what was typed before it closes and says what is wrong in a sentence;
nothing is sent from here. The panel asks for confirmation before acting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from kvmtui.backend.agent import EXEC_LIMIT_S
from kvmtui.backend.agent_info import InvalidRequest, Secret, exec_argv, parse_request
from kvmtui.backend.agent_runs import check_save_path

SHELL = "/bin/sh"
MAX_EXEC_LIMIT_S = 3600.0


@dataclass(frozen=True)
class ExecRequest:
    argv: tuple[str, ...]
    limit_s: float
    spool: bool = False  # the output through files in the guest: any size


@dataclass(frozen=True)
class PasswordRequest:
    user: str
    password: Secret


def parse_limit(text: str) -> float:
    """The exec time limit typed by the admin, in seconds."""
    try:
        seconds = float(text.strip())
    except ValueError:
        raise InvalidRequest(f"'{text.strip()}' is not a number of seconds.") from None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_EXEC_LIMIT_S:
        raise InvalidRequest(f"The time limit must be above 0 and at most {MAX_EXEC_LIMIT_S:g} s.")
    return seconds


class _Form(ModalScreen[object]):
    CSS_PATH = "agent_forms.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _error(self, text: str) -> None:
        self.query_one(".form-error", Static).update(text)

    @property
    def error_text(self) -> str:
        return str(self.query_one(".form-error", Static).render())


class ExecFormScreen(_Form):
    """A program and its arguments, split here without a shell unless the admin ticks one."""

    def __init__(
        self, guest_name: str, limit_s: float = EXEC_LIMIT_S, *, spool: bool = False
    ) -> None:
        super().__init__()
        self.guest_name = guest_name
        self.limit_s = limit_s
        self.spool = spool

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(
                f"Run a program in guest '{self.guest_name}' through its agent "
                "(as the agent's user, usually root). Nothing runs on the host.",
                classes="question",
            )
            yield Label("Program and arguments (quote arguments with spaces)")
            yield Input(placeholder="uname -r", id="exec-command")
            yield Checkbox(f"Run through a shell ({SHELL} -c)", id="exec-shell")
            yield Checkbox(
                "Large output: through files in the guest's /tmp (any size, needs /bin/sh; "
                "libvirt carries at most about 3 MiB otherwise)",
                self.spool,
                id="exec-spool",
            )
            with Horizontal(classes="row"):
                yield Label("Time limit (s)")
                yield Input(f"{self.limit_s:g}", id="exec-limit", compact=True)
            yield Static("", id="exec-preview")
            yield Static("", classes="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Run…", variant="primary", id="ok")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#exec-command", Input).focus()

    def _argv(self) -> tuple[str, ...]:
        shell = SHELL if self.query_one("#exec-shell", Checkbox).value else None
        return exec_argv(self.query_one("#exec-command", Input).value, shell=shell)

    @on(Input.Changed, "#exec-command")
    @on(Checkbox.Changed)
    def _preview(self) -> None:
        try:
            argv = self._argv()
        except InvalidRequest as exc:
            text = str(exc)
        else:
            text = f"Program {argv[0]!r}, arguments {list(argv[1:])!r}"
        self.query_one("#exec-preview", Static).update(text)

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _submit(self) -> None:
        try:
            request = ExecRequest(
                self._argv(),
                parse_limit(self.query_one("#exec-limit", Input).value),
                self.query_one("#exec-spool", Checkbox).value,
            )
        except InvalidRequest as exc:
            self._error(str(exc))
            return
        self.dismiss(request)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class PasswordFormScreen(_Form):
    """A user and a new password typed twice; the password is masked and never shown."""

    def __init__(self, guest_name: str) -> None:
        super().__init__()
        self.guest_name = guest_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(
                f"Set a user's password in guest '{self.guest_name}' (the agent runs the "
                "guest's chpasswd).",
                classes="question",
            )
            yield Label("User")
            yield Input("root", id="password-user")
            yield Label("New password")
            yield Input(password=True, id="password-new")
            yield Label("New password again")
            yield Input(password=True, id="password-again")
            yield Static("", classes="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Set…", variant="primary", id="ok")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#password-new", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _submit(self) -> None:
        user = self.query_one("#password-user", Input).value.strip()
        new = self.query_one("#password-new", Input)
        again = self.query_one("#password-again", Input)
        if not user:
            self._error("Type the user whose password to set.")
        elif not new.value:
            self._error("Type the new password.")
        elif new.value != again.value:
            self._error("The two passwords differ; type them again.")
            new.value = again.value = ""
            new.focus()
        else:
            secret = Secret(new.value)
            new.value = again.value = ""
            self.dismiss(PasswordRequest(user, secret))

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class RawFormScreen(_Form):
    """One agent command as JSON, refused here unless it parses as a command."""

    def __init__(self, guest_name: str, text: str = "") -> None:
        super().__init__()
        self.guest_name = guest_name
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(
                f"Send one command to the agent of guest '{self.guest_name}', for experts. "
                "libvirt marks the guest as tainted by custom agent commands.",
                classes="question",
            )
            yield Input(self.text, placeholder='{"execute": "guest-ping"}', id="raw-json")
            yield Static("", classes="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Send", variant="primary", id="ok")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#raw-json", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _submit(self) -> None:
        text = self.query_one("#raw-json", Input).value
        try:
            parse_request(text)
        except InvalidRequest as exc:
            self._error(str(exc))
            return
        self.dismiss(text)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class SaveFormScreen(_Form):
    """Where to write a program's whole output; refused here if the file exists."""

    def __init__(self, what: str, path: str) -> None:
        super().__init__()
        self.what = what
        self.path = path

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(
                f"Save the whole output of {self.what}, byte for byte, to a new file on this "
                "machine (stderr, if any, goes to the same name + .stderr).",
                classes="question",
            )
            yield Input(self.path, id="save-path")
            yield Static("", classes="form-error")
            with Horizontal(classes="buttons"):
                yield Button("Save", variant="primary", id="ok")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#save-path", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _submit(self) -> None:
        try:
            path = check_save_path(self.query_one("#save-path", Input).value)
        except InvalidRequest as exc:
            self._error(str(exc))
            return
        self.dismiss(path)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
