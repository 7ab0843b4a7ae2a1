"""The hosts screen (ctrl+o): saved connections with their state in this session; add,
edit, remove (asks first), connect, disconnect, and test a connection off the UI thread.

The file is ``backend.hostfile``'s; hosts opened with ``-c`` and not saved are listed too
("not saved"), so they can be disconnected or saved (``e``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar, Protocol

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Checkbox, DataTable, Input, Label, Static

from kvmtui.backend import hostfile, reach
from kvmtui.backend.host import Host
from kvmtui.backend.hostfile import HostFileError, SavedHost
from kvmtui.backend.model import ConnectionState, HostStatus
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.tui import messages
from kvmtui.tui.format import clock_time, printable
from kvmtui.tui.widgets.footer import Footer
from kvmtui.tui.workers import work


class Session(Protocol):
    """What the screen needs of the app (the app is a layer above the screens)."""

    @property
    def hosts(self) -> Sequence[Host]: ...
    def host(self, label: str) -> Host | None: ...
    def open_host(self, uri: str, *, label: str, readonly: bool) -> Host: ...
    def close_host(self, label: str) -> None: ...

#: The URI last: a long one is cut at the edge rather than pushing the state off screen
#: (the form shows it whole).
COLUMNS = ("Name", "State", "Options", "URI")


@dataclass
class HostProbed(Message, bubble=False):
    """A test of a connection ended: whether it answered, and its sentence."""

    name: str
    worked: bool
    text: str


def home_relative(path: Path) -> str:
    """``~/.config/kvmtui/hosts.toml`` rather than the whole path under the home folder."""
    try:
        return f"~/{path.relative_to(Path.home())}"
    except ValueError:
        return str(path)


def state_text(status: HostStatus | None) -> Text:
    """A host's state in this session, short: the reason is on the guest list's line."""
    if status is None:
        return Text("not open", style="dim")
    if status.state is ConnectionState.CONNECTED:
        return Text("connected", style="green")
    if status.state is ConnectionState.DISCONNECTED:
        since = f" since {clock_time(status.since)}" if status.since is not None else ""
        return Text(f"disconnected{since}", style="bold red")
    return Text("connecting…", style="yellow")


def options_text(saved: SavedHost | None, status: HostStatus | None) -> str:
    if saved is None:
        return "not saved" + (", read-only" if status is not None and status.readonly else "")
    flags = (("read-only", saved.readonly), ("at start", saved.autoconnect))
    return ", ".join(name for name, on in flags if on) or "-"


class HostsScreen(Screen[None]):
    """Saved hosts and the session's hosts, one row each."""

    CSS_PATH = "hosts.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add", tooltip="Save a new connection."),
        Binding("e", "edit", "Edit", tooltip="Change the selected host (or save an unsaved one)."),
        Binding("d", "remove", "Remove", tooltip="Forget the saved host (asks first)."),
        Binding("c", "connect", "Connect", tooltip="Open the host in this session, or retry."),
        Binding("x", "disconnect", "Disconnect", tooltip="Close the host in this session."),
        Binding("t", "test", "Test", tooltip="Try the connection once, off the session."),
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
    ]

    def __init__(
        self, session: Session, path: Path | None = None, *, readonly: bool = False
    ) -> None:
        super().__init__()
        self.session = session
        #: The session runs read-only (-r): hosts opened here are read-only too.
        self.session_readonly = readonly
        self.path = path or hostfile.default_path()
        self.saved: list[SavedHost] = []
        #: Why the file cannot be used (broken): shown, and nothing is written.
        self.file_error: str | None = None
        self._names: list[str] = []  # row order

    def compose(self) -> ComposeResult:
        yield Static(f"Saved hosts: {printable(home_relative(self.path))}", id="hosts-title")
        table: DataTable[str | Text] = DataTable(id="hosts-table", cursor_type="row")
        yield table
        yield Static("", id="hosts-message")
        yield Footer(compact=True)

    @property
    def table(self) -> DataTable[str | Text]:
        return self.query_one("#hosts-table", DataTable)

    @property
    def message_text(self) -> str:
        return str(self.query_one("#hosts-message", Static).render())

    def say(self, text: str, *, error: bool = False) -> None:
        line = self.query_one("#hosts-message", Static)
        line.set_class(error, "-error")
        line.update(Text(text))

    def on_mount(self) -> None:
        self.table.add_columns(*COLUMNS)
        self.reload()
        self.table.focus()

    # -- rows ------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the file again and redraw; a broken file is said, with its line."""
        try:
            self.saved = hostfile.load(self.path)
            self.file_error = None
        except HostFileError as exc:
            self.saved = []
            self.file_error = str(exc)
            self.say(self.file_error, error=True)
        self.redraw()

    def redraw(self) -> None:
        statuses = {h.label: h.status for h in self.session.hosts}
        saved_names = {h.name for h in self.saved}
        rows: list[tuple[str, SavedHost | None, HostStatus | None]] = [
            (h.name, h, statuses.get(h.name)) for h in self.saved
        ]
        rows += [(label, None, st) for label, st in statuses.items() if label not in saved_names]
        table = self.table
        cursor = table.cursor_row
        table.clear()
        self._names = []
        for name, saved, status in rows:
            uri = saved.uri if saved is not None else (status.uri if status is not None else "")
            table.add_row(
                printable(name),
                state_text(status),
                options_text(saved, status),
                printable(uri),
                key=name,
            )
            self._names.append(name)
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))

    @property
    def selected_name(self) -> str | None:
        if not self._names:
            return None
        return self._names[min(self.table.cursor_row, len(self._names) - 1)]

    def _saved(self, name: str | None) -> SavedHost | None:
        return next((h for h in self.saved if h.name == name), None)

    def on_host_status_changed(self, _message: messages.HostStatusChanged) -> None:
        self.redraw()

    def on_host_opened(self, _message: messages.HostOpened) -> None:
        self.redraw()

    def on_host_closed(self, _message: messages.HostClosed) -> None:
        self.redraw()

    # -- the file --------------------------------------------------------------------

    def _write(self, hosts: list[SavedHost], done: str) -> bool:
        if self.file_error is not None:
            self.say(f"Nothing was saved: {self.file_error}", error=True)
            return False
        try:
            hostfile.save(hosts, self.path)
        except HostFileError as exc:
            self.say(f"Nothing was saved: {exc}", error=True)
            return False
        self.saved = list(hosts)
        self.redraw()
        self.say(done)
        return True

    def _refuse_broken(self) -> bool:
        if self.file_error is not None:
            self.say(f"Fix the file first; {self.file_error}", error=True)
            return True
        return False

    def action_add(self) -> None:
        if self._refuse_broken():
            return
        others = [h.name for h in self.saved]

        def added(host: SavedHost | None) -> None:
            if host is not None:
                self._write([*self.saved, host], f"Saved {host.name}.")
                self.table.move_cursor(row=self._names.index(host.name))

        self.app.push_screen(HostFormScreen(None, others), added)

    def action_edit(self) -> None:
        if self._refuse_broken():
            return
        name = self.selected_name
        if name is None:
            self.say("No host to edit; a adds one.")
            return
        current = self._saved(name)
        if current is None:  # a -c host: save it as it was opened
            status = next((h.status for h in self.session.hosts if h.label == name), None)
            uri = status.uri if status is not None else ""
            start = SavedHost(name, uri, readonly=bool(status and status.readonly))
        else:
            start = current
        others = [h.name for h in self.saved if h.name != name]

        def edited(host: SavedHost | None) -> None:
            if host is None:
                return
            if current is None:
                hosts = [*self.saved, host]
            else:
                hosts = [host if h.name == name else h for h in self.saved]
            extra = " It applies the next time it is opened." if current is not None else ""
            self._write(hosts, f"Saved {host.name}.{extra}")

        self.app.push_screen(HostFormScreen(start, others), edited)

    def action_remove(self) -> None:
        if self._refuse_broken():
            return
        saved = self._saved(self.selected_name)
        if saved is None:
            self.say("Only a saved host can be removed; x closes this one.")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                hosts = [h for h in self.saved if h.name != saved.name]
                self._write(hosts, f"Removed {saved.name} from the saved hosts.")

        question = (
            f"Remove {printable(saved.name)} ({printable(saved.uri)}) from the saved hosts? "
            "An open connection stays open until x or quit."
        )
        self.app.push_screen(ConfirmScreen(question, "Remove"), answered)

    # -- the session -----------------------------------------------------------------

    def action_connect(self) -> None:
        name = self.selected_name
        if name is None:
            self.say("No host to connect to; a adds one.")
            return
        host = self.session.host(name)
        if host is not None:
            if host.status.state is ConnectionState.CONNECTED:
                self.say(f"{name} is connected already.")
            else:
                host.reconnect_now()
                self.say(f"Reconnecting to {name}…")
            return
        saved = self._saved(name)
        if saved is None:
            return
        readonly = saved.readonly or self.session_readonly
        self.session.open_host(saved.uri, label=saved.name, readonly=readonly)
        self.say(f"Connecting to {name}…")

    def action_disconnect(self) -> None:
        name = self.selected_name
        if name is None or self.session.host(name) is None:
            self.say(f"{name or 'That host'} is not open in this session.")
            return
        self.session.close_host(name)
        self.say(f"Closed {name}; c opens it again.")

    def action_test(self) -> None:
        name = self.selected_name
        if name is None:
            self.say("No host to test; a adds one.")
            return
        saved = self._saved(name)
        host = self.session.host(name)
        uri = saved.uri if saved is not None else (host.uri if host is not None else None)
        if not uri:
            self.say(f"{name} has no URI to test (libvirt's default).")
            return
        self.say(f"Testing {name}…")
        self._probe(name, uri)

    @work(doing=lambda _screen, name, _uri: f"testing the connection to {name}", group="probe")
    def _probe(self, name: str, uri: str) -> None:
        worked, text = reach.probe(uri, name)
        self.post_message(HostProbed(name, worked, text))

    def on_host_probed(self, message: HostProbed) -> None:
        self.say(message.text, error=not message.worked)

    def action_back(self) -> None:
        self.dismiss(None)


class HostFormScreen(ModalScreen[SavedHost | None]):
    """Name, URI (checked as typed), read-only, connect at start; ctrl+s or enter saves."""

    CSS_PATH = "hosts.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, host: SavedHost | None, others: list[str]) -> None:
        super().__init__()
        self.host = host
        self.others = others

    def compose(self) -> ComposeResult:
        host = self.host or SavedHost("", "")
        with Vertical(classes="dialog"):
            yield Static("Edit the host" if self.host else "Save a connection", classes="question")
            with Horizontal(classes="field"):
                yield Label("Name", classes="field-label")
                yield Input(host.name, placeholder="kvm1", id="host-name", compact=True)
            with Horizontal(classes="field"):
                yield Label("URI", classes="field-label")
                yield Input(
                    host.uri, placeholder="qemu+ssh://root@kvm1/system", id="host-uri", compact=True
                )
            yield Static("", id="host-form-error")
            for label, value, box_id in (
                ("read-only (watch, never change)", host.readonly, "host-readonly"),
                ("connect when kvmtui starts without -c", host.autoconnect, "host-auto"),
            ):
                yield Checkbox(label, value, id=box_id, compact=True)
            yield Static("ctrl+s or enter saves; escape cancels", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#host-name" if not self.host else "#host-uri", Input).focus()
        self._check()

    @property
    def error_text(self) -> str:
        return str(self.query_one("#host-form-error", Static).render())

    def _values(self) -> SavedHost:
        return SavedHost(
            self.query_one("#host-name", Input).value.strip(),
            self.query_one("#host-uri", Input).value.strip(),
            readonly=self.query_one("#host-readonly", Checkbox).value,
            autoconnect=self.query_one("#host-auto", Checkbox).value,
        )

    def _problem(self) -> str | None:
        host = self._values()
        return hostfile.name_problem(host.name, self.others) or hostfile.uri_problem(host.uri)

    def _check(self) -> str | None:
        problem = self._problem()
        self.query_one("#host-form-error", Static).update(Text(problem or ""))
        return problem

    @on(Input.Changed)
    def _typed(self) -> None:
        self._check()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()

    def action_save(self) -> None:
        problem = self._check()
        if problem:
            self.query_one("#host-form-error", Static).update(
                Text(f"{problem} Nothing was saved.")
            )
            return
        self.dismiss(replace(self._values()))

    def action_cancel(self) -> None:
        self.dismiss(None)
