"""A guest's serial console inside the app: header, terminal, the way out.

Open one with :func:`show_console`: each console is an installed screen named after its
guest key, so leaving it (Ctrl+]) keeps the session, the screen and the scrollback, and
opening it again comes back to it. The session's threads only post messages here; the
handlers own every UI change.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message

from kvmtui.backend.console import (
    CloseReason,
    ConsoleBusyError,
    ConsoleLog,
    ConsoleSession,
    can_open,
    describe,
)
from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.host import Host
from kvmtui.backend.model import GuestState
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.guest_view import GuestViewScreen
from kvmtui.screens.path_prompt import PathScreen, file_refusal
from kvmtui.tui import messages
from kvmtui.tui.widgets.terminal import LEAVE_KEY, Terminal
from kvmtui.tui.workers import work

SCROLL_BACK_KEY = "shift+pageup"
SCROLL_FORWARD_KEY = "shift+pagedown"
LIVE_KEY = "shift+end"
STTY_KEY = "shift+f2"
TAKEOVER_KEY = "shift+f3"
LOG_KEY = "shift+f4"
HINT = "Ctrl+] leave | Shift+: PgUp/PgDn scroll, End live, F2 stty, F3 take over, F4 log"


def console_key(host: Host, uuid: str) -> str:
    """The installed-screen name of a guest's console (unique across hosts)."""
    return f"console:{host.label}/{uuid}"


def show_console(app: App[object], host: Host, uuid: str, name: str | None = None) -> str | None:
    """Open (or return to) the console of a guest; the reason when it cannot be opened.

    For the guest list's console key: ``reason = show_console(self.app, host, uuid, name)``
    and notify the reason when it is not None.
    """
    reason = can_open(host, host.guest(uuid))
    key = console_key(host, uuid)
    if app.is_screen_installed(key):
        if app.get_screen(key) not in app.screen_stack:
            app.push_screen(key)
        return None
    if reason is not None:
        return reason
    app.install_screen(ConsoleScreen(host, uuid, name), key)
    app.push_screen(key)
    return None


def close_console(app: App[object], host: Host, uuid: str) -> None:
    """End a guest's console session and forget its screen."""
    key = console_key(host, uuid)
    if not app.is_screen_installed(key):
        return
    screen = app.get_screen(key)
    if isinstance(screen, ConsoleScreen):
        screen.end_session()
    if app.screen is not screen:
        app.uninstall_screen(key)


# -- messages from the session's threads ---------------------------------------------


@dataclass
class ConsoleAttached(Message, bubble=False):
    reattached: bool


@dataclass
class ConsoleClosed(Message, bubble=False):
    reason: CloseReason


@dataclass
class ConsoleOpenFailed(Message, bubble=False):
    text: str
    busy: bool


class TakeoverScreen(ConfirmScreen):
    """The takeover question (ConfirmScreen with the console's wording)."""


class LogPathScreen(PathScreen):
    """Asks where to log the console; dismisses with the path, or None."""

    def __init__(self, suggestion: str) -> None:
        super().__init__(
            "Append everything the guest prints to this file (16 MiB cap):",
            suggestion,
            "Log",
            "log-path",
            refusal=file_refusal,
        )


class ConsoleScreen(GuestViewScreen):
    """The serial console of one guest."""

    PART = "console"
    HINT = HINT
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(LEAVE_KEY, "leave", "Leave console", key_display="Ctrl+]", priority=True),
        Binding(SCROLL_BACK_KEY, "scroll_history(1)", "Scroll back"),
        Binding(SCROLL_FORWARD_KEY, "scroll_history(-1)", "Scroll forward"),
        Binding(LIVE_KEY, "live", "Live view"),
        Binding(STTY_KEY, "send_size", "Send size (stty)"),
        Binding(TAKEOVER_KEY, "take_over", "Take over"),
        Binding(LOG_KEY, "log", "Log to file"),
    ]
    RESERVED_KEYS = frozenset(
        {LEAVE_KEY, SCROLL_BACK_KEY, SCROLL_FORWARD_KEY, LIVE_KEY, STTY_KEY, TAKEOVER_KEY, LOG_KEY}
    )

    def __init__(
        self,
        host: Host,
        uuid: str,
        name: str | None = None,
        *,
        connect: bool = True,
        log_path: str | Path | None = None,
    ) -> None:
        super().__init__(host, uuid, name)
        self.connect = connect
        self.log_path = Path(log_path) if log_path else None
        self.session: ConsoleSession | None = None
        self.status_text = "Connecting..."

    def first_status(self) -> str:
        return self.status_text

    def view_widget(self) -> Terminal:
        return Terminal(reserved_keys=self.RESERVED_KEYS, id="terminal")

    @property
    def terminal(self) -> Terminal:
        return self.query_one(Terminal)

    def on_mount(self) -> None:
        terminal = self.terminal
        terminal.focus()
        if not self.connect:
            return
        self.session = ConsoleSession(
            self.host,
            self.uuid,
            name=self.guest_name,
            on_data=terminal.feed,
            on_closed=self._session_closed,
            on_attached=self._session_attached,
            log_file=ConsoleLog(self.log_path) if self.log_path else None,
        )
        terminal.on_output = self.session.send
        terminal.on_flow = self.session.set_paused
        self.set_interval(1.0, self._refresh_header)
        self._open(force=False)

    # Called on the session's threads: post only (thread-safe).
    def _session_closed(self, reason: CloseReason) -> None:
        self.post_message(ConsoleClosed(reason))

    def _session_attached(self, reattached: bool) -> None:
        self.post_message(ConsoleAttached(reattached))

    def on_screen_resume(self) -> None:
        self._refresh_header()
        self.terminal.focus()

    def end_session(self) -> None:
        """Close the stream (in a thread: aborting is a round trip) and stop reattaching."""
        session, self.session = self.session, None
        if session is not None:
            threading.Thread(target=session.close, name="console-close", daemon=True).start()

    def on_unmount(self) -> None:
        self.end_session()

    # -- header and status ------------------------------------------------------------

    def _header_text(self) -> str:
        guest = self.host.guest(self.uuid)
        state = guest.state if guest is not None else GuestState.UNKNOWN
        return f" Console: {self.guest_name} on {self.host.label} - {state}"

    def set_status(self, text: str, *, problem: bool = False) -> None:
        self.status_text = text
        super().set_status(text, problem=problem)

    # -- opening, takeover -------------------------------------------------------------

    @work(doing="opening the serial console", group="console-open", exclusive=True)
    def _open(self, force: bool) -> None:
        session = self.session
        if session is None:
            return
        try:
            session.open(force=force)
        except ConsoleBusyError as exc:
            self.post_message(ConsoleOpenFailed(str(exc), busy=True))
        except KvmtuiError as exc:
            self.post_message(ConsoleOpenFailed(str(exc), busy=False))

    def on_console_attached(self, message: ConsoleAttached) -> None:
        if message.reattached:
            self.set_status(f"Reattached to the console of '{self.guest_name}'.")
            self.notify(f"Console of '{self.guest_name}' reattached.")
        else:
            self.set_status(f"Connected to the serial console of '{self.guest_name}'.")
        self._refresh_header()

    def on_console_closed(self, message: ConsoleClosed) -> None:
        text = describe(message.reason, self.guest_name)
        if message.reason == CloseReason.TAKEN_OVER:
            text += " Shift+F3 takes it back."
        self.set_status(text, problem=True)
        self._refresh_header()

    def on_work_failed(self, message: messages.WorkFailed) -> None:
        self.set_status(message.text, problem=True)

    def on_console_open_failed(self, message: ConsoleOpenFailed) -> None:
        if message.busy:
            self.set_status(message.text + " Shift+F3 takes it over.", problem=True)
            self.ask_takeover()
        else:
            self.set_status(message.text, problem=True)

    def ask_takeover(self) -> None:
        question = (
            f"Another client (virsh console or another kvmtui) holds the console of "
            f"'{self.guest_name}' on {self.host.label}. Take it over? They are disconnected."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.set_status("Taking over the console...")
                self._open(force=True)

        self.app.push_screen(TakeoverScreen(question, "Take over"), answered)

    # -- actions -----------------------------------------------------------------------

    def action_leave(self) -> None:
        """Back to where the console was opened from; the session stays open."""
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def action_scroll_history(self, pages: int) -> None:
        terminal = self.terminal
        terminal.scroll_history(pages * max(1, terminal.size.height - 1))

    def action_live(self) -> None:
        self.terminal.scroll_to_live()

    def action_send_size(self) -> None:
        terminal = self.terminal
        terminal.send_text(terminal.stty_command())

    def action_take_over(self) -> None:
        session = self.session
        if session is not None and not session.attached:
            self.ask_takeover()

    def action_log(self) -> None:
        suggestion = str(self.log_path or Path.home() / f"kvmtui-console-{self.guest_name}.log")

        def chosen(path: str | None) -> None:
            if path is None or self.session is None:
                return
            try:
                self.session.log_file = ConsoleLog(path)
            except OSError as exc:
                self.set_status(
                    f"Could not open the log file {path}: {exc.strerror}.", problem=True
                )
                return
            self.log_path = Path(path)
            self.set_status(f"Logging the console of '{self.guest_name}' to {path}.")

        self.app.push_screen(LogPathScreen(suggestion), chosen)

    @on(Terminal.ScrollChanged)
    def _scrolled(self, message: Terminal.ScrollChanged) -> None:
        if message.offset:
            self.set_status(f"Scrolled back {message.offset} lines - Shift+End returns to live.")
        else:
            self.set_status(f"Live console of '{self.guest_name}'.")
