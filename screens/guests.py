"""The guest list: every guest of every host, with the actions an admin takes on them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message

from kvmtui.backend import lifecycle
from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.history import HostHistory
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobRegistry, JobState
from kvmtui.backend.model import ConnectionState, Guest, GuestState
from kvmtui.backend.poller import StatsUpdated
from kvmtui.screens.guest_tools import TOOL_ACTIONS, TOOL_BINDINGS, GuestToolsScreen
from kvmtui.tui import messages
from kvmtui.tui.polling import Pollers
from kvmtui.tui.widgets.footer import Footer
from kvmtui.tui.widgets.guest_table import SORT_KEYS, GuestTable
from kvmtui.tui.widgets.host_status import HostStatusBar
from kvmtui.tui.workers import work

if TYPE_CHECKING:
    from textual.widgets import Input

    from kvmtui.backend.clone import CloneRequest
    from kvmtui.backend.ksm import KsmHistory
    from kvmtui.backend.migrate import Migration
    from kvmtui.screens.help import HelpRow

# The screens this one opens are imported in the actions that open them: the guest
# list is the first screen, and start-up is timed from the process's launch
# (bench/startup_bench.py). Importing them all up front cost about 200 ms.

READ_ONLY = "read-only connection"
READ_ONLY_NOTE = (
    "Read-only connection: actions that change guests are disabled. "
    "Start kvmtui without -r/--readonly to make changes."
)
_RUNNING = frozenset({GuestState.RUNNING, GuestState.BLOCKED})
#: After a migration, how long an open console waits for the destination to list the guest.
FOLLOW_TRIES, FOLLOW_EVERY_S = 20, 0.5
#: Keys that check_action hides from the footer while they do nothing, for the help.
_ONLY_WHEN = {"clear_filter": "only while filtering"}


@dataclass(frozen=True, slots=True)
class Operation:
    """A lifecycle call and the words for its outcome."""

    verb: str  # "force off": used when an unexpected error needs a sentence
    run: Callable[[Host, str], None]
    done: str  # "Forced off {name}"


START = Operation("start", lifecycle.start, "Started {name}")
START_BASE = Operation(
    "start",
    lambda host, uuid: lifecycle.start(host, uuid, base_confirmed=True),
    "Started {name}; its linked clones may no longer work",
)
SHUTDOWN = Operation("shut down", lifecycle.shutdown, "Shutdown requested for {name}")
REBOOT = Operation("reboot", lifecycle.reboot, "Reboot requested for {name}")
PAUSE = Operation("pause", lifecycle.suspend, "Paused {name}")
RESUME = Operation("resume", lifecycle.resume, "Resumed {name}")
FORCE_OFF = Operation("force off", lifecycle.force_off, "Forced off {name}")
RESET = Operation("reset", lifecycle.reset, "Reset {name}")
UNDEFINE = Operation("undefine", lifecycle.undefine, "Undefined {name}; its disks are kept")
AUTOSTART_ON = Operation(
    "enable autostart for",
    lambda host, uuid: lifecycle.set_autostart(host, uuid, True),
    "Autostart enabled for {name}",
)
AUTOSTART_OFF = Operation(
    "disable autostart for",
    lambda host, uuid: lifecycle.set_autostart(host, uuid, False),
    "Autostart disabled for {name}",
)


@dataclass
class BaseQuestion(Message, bubble=False):
    """Starting the guest was refused because linked clones depend on its disks."""

    host: Host
    guest: Guest
    clones: tuple[str, ...]  # the linked clones' names


def _trying(_screen: object, operation: Operation, host: Host, guest: Guest) -> str:
    """What run_operation was doing, for the internal-error sentence."""
    return f"trying to {operation.verb} guest '{guest.name}' on {host.label}"


class GuestsScreen(GuestToolsScreen):
    """Host status lines, the guest table, a filter line and the footer."""

    CSS_PATH = "guests.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "start", "Start", tooltip="Boot the guest."),
        Binding(
            "h", "shutdown", "Shutdown", tooltip="Ask the guest OS to power off (agent or ACPI)."
        ),
        Binding("r", "reboot", "Reboot", show=False, tooltip="Ask the guest OS to restart."),
        Binding("p", "pause_resume", "Pause/resume", tooltip="Pause, or resume a paused guest."),
        Binding("F", "force_off", "Force off", tooltip="Pull the plug (asks first)."),
        Binding("R", "reset", "Reset", show=False, tooltip="Press the reset button (asks first)."),
        Binding(
            "U",
            "undefine",
            "Undefine",
            show=False,
            tooltip="Remove the definition (type the name).",
        ),
        Binding(
            "a",
            "toggle_autostart",
            "Autostart",
            show=False,
            tooltip="Start with the host, or not.",
        ),
        *TOOL_BINDINGS,
        Binding("slash", "filter", "Filter", tooltip="Show only guests whose name matches."),
        Binding("P", "sort('cpu')", "Sort by %CPU", show=False),
        Binding("M", "sort('memory')", "Sort by %MEM", show=False),
        Binding("T", "sort('time')", "Sort by CPU time", show=False),
        Binding("N", "sort('name')", "Sort by name", show=False),
        Binding(
            "B",
            "toggle_disk_unit",
            "Disk bytes/requests",
            show=False,
            tooltip="Disk columns in bytes/s or requests/s.",
        ),
        Binding(
            "space",
            "app.toggle_stats",
            "Pause statistics",
            show=False,
            tooltip="Stop polling statistics, or resume.",
        ),
        Binding(
            "d", "app.set_delay", "Refresh interval", show=False, tooltip="Seconds between polls."
        ),
        Binding(
            "H", "host_screen", "Host view", show=False, tooltip="Host CPU, memory, overcommit."
        ),
        Binding(
            "x",
            "toggle_mark",
            "Mark",
            show=False,
            tooltip="Mark guests; t then sets the same disk limits on every marked guest.",
        ),
        Binding("K", "ksm_screen", "KSM", show=False, tooltip="Memory sharing and overcommit."),
        Binding("S", "storage_screen", "Storage", show=False, tooltip="Pools and volumes."),
        Binding(
            "J",
            "app.jobs_screen",
            "Jobs",
            show=False,
            tooltip="Uploads and downloads: progress, cancel, outcome.",
        ),
        Binding("z", "snapshots", "Snapshots", show=False, tooltip="The guest's snapshots."),
        Binding(
            "C",
            "clone",
            "Clone",
            show=False,
            tooltip="Copy a shut-off guest: full copy or linked clone, new name, UUID, MACs.",
        ),
        Binding(
            "n",
            "new_guest",
            "New guest",
            show=False,
            tooltip="The new-guest wizard, on the selected guest's host.",
        ),
        Binding(
            "m",
            "migrate",
            "Migrate",
            show=False,
            tooltip="Move the guest to another host: options, pre-flight, progress.",
        ),
        Binding("escape", "clear_filter", "Clear filter"),  # shown only while filtering
        Binding(
            "ctrl+l",
            "reconnect",
            "Reconnect",
            show=False,
            tooltip="Retry disconnected hosts now.",
        ),
        Binding(
            "ctrl+o",
            "app.hosts_screen",
            "Hosts",
            show=False,
            tooltip="Saved connections: add, edit, remove, connect, disconnect, test.",
        ),
        Binding("question_mark", "help", "Help"),
        Binding("q", "app.quit", "Quit"),
    ]

    #: Actions that change a guest: disabled on read-only hosts and unreachable guests.
    MUTATING: ClassVar[frozenset[str]] = frozenset(
        {
            "start",
            "shutdown",
            "reboot",
            "pause_resume",
            "force_off",
            "reset",
            "undefine",
            "toggle_autostart",
            "clone",
            "new_guest",
            "migrate",
        }
    )

    def __init__(
        self,
        hosts: Sequence[Host],
        pollers: Pollers | None = None,
        jobs: JobRegistry | None = None,
    ) -> None:
        super().__init__()
        self.hosts = {host.label: host for host in hosts}
        self.jobs = jobs
        #: Migrations started here, by guest key: `m` on a guest on the move shows its view.
        self.migrations: dict[str, Migration] = {}
        self.ksm_histories: dict[str, KsmHistory] = {}
        self.pollers = pollers
        self.readonly = bool(hosts) and all(host.readonly for host in hosts)

    def compose(self) -> ComposeResult:
        yield HostStatusBar((h.status for h in self.hosts.values()), id="host-status")
        yield GuestTable(id="guests")
        yield Horizontal(id="filter-bar")  # hidden; its parts come with the first /
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.table.focus()
        # Hosts may have reported before this screen existed.
        for host in self.hosts.values():
            self.status_bar.set_status(host.status)
            self.table.load_host(host.label, host.guests())
            self._count(host.label)
            if host.status.state is ConnectionState.CONNECTED:
                self._tell_shown(host.label)
            last = self.pollers.last(host.label) if self.pollers is not None else None
            if last is not None and self.pollers is not None:
                self._show_tick(last, self.pollers.history(host.label))
        if self.pollers is not None:
            self.status_bar.set_paused(self.pollers.paused)

    @property
    def table(self) -> GuestTable:
        return self.query_one(GuestTable)

    @property
    def status_bar(self) -> HostStatusBar:
        return self.query_one(HostStatusBar)

    @property
    def filter_bar(self) -> Horizontal:
        return self.query_one("#filter-bar", Horizontal)

    @property
    def filter_input(self) -> Input:
        """The filter's input field (there once the filter was first opened)."""
        from textual.widgets import Input

        return self.query_one("#filter", Input)

    # -- what hosts report -------------------------------------------------------------

    def on_host_status_changed(self, message: messages.HostStatusChanged) -> None:
        self.status_bar.set_status(message.status)

    async def on_host_opened(self, message: messages.HostOpened) -> None:
        host = message.host
        self.hosts[host.label] = host
        await self.status_bar.add_host(host.status)

    async def on_host_closed(self, message: messages.HostClosed) -> None:
        if self.hosts.pop(message.label, None) is None:
            return
        self.table.load_host(message.label, ())
        await self.status_bar.remove_host(message.label)
        self.refresh_bindings()

    def on_guests_loaded(self, message: messages.GuestsLoaded) -> None:
        if message.host not in self.hosts:  # sent just before its host was closed
            return
        self.table.load_host(message.host, message.guests)
        self._count(message.host)
        self.refresh_bindings()
        self._tell_shown(message.host)

    def _tell_shown(self, host: str) -> None:
        """Tell the app once the list is drawn (it starts work that would delay that)."""
        self.call_after_refresh(self.app.post_message, messages.ListShown(host))

    def on_guest_updated(self, message: messages.GuestUpdated) -> None:
        if message.guest.host in self.hosts:
            before = self.table.guest(message.guest.key)
            if before is None or before.state is not message.guest.state:
                self.forget_display(message.guest.key)  # may run with another definition
            self.table.update_guest(message.guest)
            self._count(message.guest.host)
            self.refresh_bindings()

    def on_guest_removed(self, message: messages.GuestRemoved) -> None:
        self.table.remove_guest(message.key)
        self._count(message.host)
        self.refresh_bindings()

    def _count(self, host: str) -> None:
        guests = self.table.guests_of(host)
        running = sum(1 for g in guests if g.state in _RUNNING)
        self.status_bar.set_counts(host, running, len(guests))

    def on_stats_tick(self, message: messages.StatsTick) -> None:
        if message.host in self.hosts:
            self._show_tick(message.update, message.history)

    def _show_tick(self, update: StatsUpdated, history: HostHistory | None) -> None:
        self.table.update_stats(
            update.host, update.tick, update.fresh, history, complete=update.settled
        )
        self.status_bar.set_figures(update.host, update.host_figures, None)

    def on_stats_error(self, message: messages.StatsError) -> None:
        line = self.status_bar.line(message.host)
        if line is not None:
            line.set_figures(line.figures, message.failure.error)

    def on_stats_control_changed(self, message: messages.StatsControlChanged) -> None:
        self.status_bar.set_paused(message.paused)

    @on(GuestTable.VisibleChanged)
    def _visible_changed(self, event: GuestTable.VisibleChanged) -> None:
        if self.pollers is not None:
            self.pollers.show(event.by_host())

    @on(GuestTable.Sorted)
    def _sorted(self, event: GuestTable.Sorted) -> None:
        # Off-screen guests are read in slices: read them all now, so the new order
        # is right at once rather than when the round of slices ends.
        if event.by_figure and self.pollers is not None:
            self.pollers.read_all_now()

    @on(GuestTable.CursorMoved)
    def _cursor_moved(self) -> None:
        self.refresh_bindings()

    @on(GuestTable.Selected)
    def _open_details(self, event: GuestTable.Selected) -> None:
        event.stop()
        guest = self.table.guest(event.key)
        if guest is not None:
            from kvmtui.screens.details import DetailsScreen

            self.app.push_screen(DetailsScreen(guest, self.pollers, self.hosts.get(guest.host)))

    # -- statistics views --------------------------------------------------------------

    def action_sort(self, by: str) -> None:
        """virt-top's sort keys: P %CPU, M %MEM, T CPU time, N name."""
        column = SORT_KEYS[by]
        self.table.sort_by(column, descending=column != "name")

    def action_toggle_disk_unit(self) -> None:
        self.table.toggle_disk_unit()

    def action_host_screen(self) -> None:
        from kvmtui.screens.host import HostScreen

        self.app.push_screen(HostScreen(list(self.hosts.values()), self.pollers))

    def action_ksm_screen(self) -> None:
        from kvmtui.screens.ksm import KsmScreen

        # One history per host kept here, so the saved-memory graph survives reopening.
        self.app.push_screen(KsmScreen(list(self.hosts.values()), histories=self.ksm_histories))

    def action_storage_screen(self) -> None:
        from kvmtui.screens.storage import StorageScreen

        self.app.push_screen(StorageScreen(list(self.hosts.values()), self.jobs))

    def _new_guest_host(self) -> Host | None:
        """The selected guest's host, else the first connected one."""
        guest = self.table.selected_guest
        if guest is not None:
            return self.hosts[guest.host]
        return next((h for h in self.hosts.values() if h.connected), None)

    def action_new_guest(self) -> None:
        target = self._new_guest_host()
        if target is None or self.jobs is None:
            return
        from kvmtui.screens.new_guest import NewGuestScreen  # loaded when first opened

        self.app.push_screen(NewGuestScreen(target, self.jobs))

    def action_snapshots(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        host, guest = selected
        if guest.state is GuestState.UNKNOWN:
            self.notify(f"Cannot open the snapshots of '{guest.name}': its host is unreachable.")
            return
        from kvmtui.screens.snapshots import SnapshotsScreen  # loaded when first opened

        self.app.push_screen(SnapshotsScreen(host, guest.uuid, guest.name, self.jobs))

    def action_migrate(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        host, guest = selected
        from kvmtui.screens.migrate_progress import MigrationScreen  # loaded when first used

        running = self.migrations.get(guest.key)
        view = self.jobs.get(running.job_id) if running and running.job_id and self.jobs else None
        if running is not None and view is not None and not view.finished:
            self.app.push_screen(MigrationScreen(running, self.jobs))
            return
        from kvmtui.screens.migrate import MigrateDialog, MigrationRequest

        others = [
            h for h in self.hosts.values()
            if h is not host and h.status.state is ConnectionState.CONNECTED
        ]  # fmt: skip

        def chosen(request: MigrationRequest | None) -> None:
            if request is None or self.jobs is None:
                return
            from kvmtui.backend.migrate import start_migration

            _view, migration = start_migration(
                self.jobs, host, guest.uuid, guest.name, request.dest, request.uri,
                request.options,
            )  # fmt: skip
            self.migrations[guest.key] = migration
            self.app.push_screen(MigrationScreen(migration, self.jobs))

        self.app.push_screen(MigrateDialog(host, guest, others), chosen)

    def on_job_changed(self, message: messages.JobChanged) -> None:
        """A migration started here ended: its console, if one was open, follows the guest."""
        view = message.view
        if not view.finished:
            return
        for key, migration in list(self.migrations.items()):
            if migration.job_id == view.id:
                del self.migrations[key]
                if view.state is JobState.DONE:
                    self._console_follows(migration, tries=FOLLOW_TRIES)

    def _console_follows(self, migration: Migration, tries: int) -> None:
        """Close the guest's console on the source and open it on the destination once
        the destination lists the guest running (its events may come a moment later)."""
        from kvmtui.screens.console import close_console, console_key, show_console

        source, dest = migration.host, self.hosts.get(migration.dest_label)
        if dest is None or not self.app.is_screen_installed(console_key(source, migration.uuid)):
            return
        guest = dest.guest(migration.uuid)
        if guest is None or guest.state not in _RUNNING:
            if tries > 0:
                self.set_timer(FOLLOW_EVERY_S, lambda: self._console_follows(migration, tries - 1))
            return
        close_console(self.app, source, migration.uuid)
        reason = show_console(self.app, dest, migration.uuid, migration.name)
        if reason is not None:
            self.notify(f"The console of '{migration.name}' could not follow it: {reason}.")

    # -- which keys work now -----------------------------------------------------------

    def disabled_reason(self, action: str) -> str | None:
        """Why a guest action cannot run now, or None when it can."""
        guest = self.table.selected_guest
        if action in TOOL_ACTIONS:
            return self.tool_reason(action)
        if action == "new_guest":
            target = self._new_guest_host()
            if target is None:
                return "no host connected"
            if target.readonly:
                return READ_ONLY
            if (guest is not None and guest.state is GuestState.UNKNOWN) or not target.connected:
                return "the guest's host is unreachable"
            return None
        if self.readonly or (guest is not None and self.hosts[guest.host].readonly):
            return READ_ONLY
        if guest is None:
            return "no guest selected"
        if guest.state is GuestState.UNKNOWN:
            return "the guest's host is unreachable"
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.MUTATING or action in TOOL_ACTIONS:
            return True if self.disabled_reason(action) is None else None
        if action == "clear_filter":
            return self.filter_bar.display or bool(self.table.filter_text)
        return True

    # -- guest actions -----------------------------------------------------------------

    def _selected(self) -> tuple[Host, Guest] | None:
        guest = self.table.selected_guest
        if guest is None:
            return None
        return self.hosts[guest.host], guest

    def _launch(self, operation: Operation) -> None:
        selected = self._selected()
        if selected is not None:
            self.run_operation(operation, *selected)

    def action_start(self) -> None:
        self._launch(START)

    def tool_target(self) -> tuple[Host, Guest] | None:
        return self._selected()

    def action_toggle_mark(self) -> None:
        key = self.table.selected_key
        if key is not None:
            self.table.toggle_mark(key)
            self.table.action_cursor_down()

    def action_throttle(self) -> None:
        """Limits of the selected guest, or the same disk limits on every marked guest."""
        marked = self.table.marked_guests()
        if len(marked) < 2:
            super().action_throttle()
            return
        from kvmtui.screens.throttle_many import ThrottleManyScreen

        targets = [(self.hosts[g.host], g.uuid) for g in marked if g.host in self.hosts]
        self.app.push_screen(ThrottleManyScreen(targets))

    def action_shutdown(self) -> None:
        self._launch(SHUTDOWN)

    def action_reboot(self) -> None:
        self._launch(REBOOT)

    def action_pause_resume(self) -> None:
        guest = self.table.selected_guest
        if guest is not None:
            asleep = guest.state in (GuestState.PAUSED, GuestState.PMSUSPENDED)
            self._launch(RESUME if asleep else PAUSE)

    def action_toggle_autostart(self) -> None:
        guest = self.table.selected_guest
        if guest is not None:
            self._launch(AUTOSTART_OFF if guest.autostart else AUTOSTART_ON)

    def action_force_off(self) -> None:
        self._confirm(
            FORCE_OFF,
            "Force off '{name}' on {host}? It stops at once, like pulling the plug; "
            "unsaved data in the guest is lost.",
            "Force off",
        )

    def action_reset(self) -> None:
        self._confirm(
            RESET,
            "Reset '{name}' on {host}? It restarts at once without shutting down; "
            "unsaved data in the guest is lost.",
            "Reset",
        )

    def _confirm(self, operation: Operation, question: str, yes_label: str) -> None:
        selected = self._selected()
        if selected is None:
            return
        host, guest = selected

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_operation(operation, host, guest)

        from kvmtui.screens.confirm import ConfirmScreen

        text = question.format(name=guest.name, host=host.label)
        self.app.push_screen(ConfirmScreen(text, yes_label), answered)

    def action_undefine(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        host, guest = selected

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_operation(UNDEFINE, host, guest)

        from kvmtui.screens.confirm import TypeToConfirmScreen

        question = (
            f"Undefine '{guest.name}' on {host.label}? Its definition, snapshots metadata "
            f"and NVRAM are removed; its disks are kept. Type '{guest.name}' to confirm."
        )
        self.app.push_screen(TypeToConfirmScreen(guest.name, question), answered)

    @work(doing=_trying, group="lifecycle")
    def run_operation(self, operation: Operation, host: Host, guest: Guest) -> None:
        """Call the backend off the event loop; the outcome comes back as a message."""
        try:
            operation.run(host, guest.uuid)
        except lifecycle.BaseInUseError as exc:
            self.post_message(BaseQuestion(host, guest, exc.clones))
        except KvmtuiError as exc:
            self.post_message(messages.ActionFailed(str(exc)))
        else:
            self.post_message(messages.ActionSucceeded(operation.done.format(name=guest.name)))

    def on_base_question(self, message: BaseQuestion) -> None:
        """Linked clones depend on the guest's disks: start only once the admin says so."""

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_operation(START_BASE, message.host, message.guest)

        from kvmtui.screens.confirm import ConfirmScreen

        name, many = message.guest.name, len(message.clones) > 1
        question = (
            f"'{name}' on {message.host.label} is the base of linked clone{'s' if many else ''} "
            f"{', '.join(message.clones)}: what it writes to its disks would corrupt "
            f"{'them' if many else 'it'}. Start '{name}' anyway?"
        )
        self.app.push_screen(ConfirmScreen(question, "Start anyway"), answered)

    def action_clone(self) -> None:
        """The clone form for a shut-off or paused guest; a running one is offered a
        shutdown first."""
        selected = self._selected()
        if selected is None:
            return
        host, guest = selected
        from kvmtui.screens.confirm import ConfirmScreen

        if guest.state not in (GuestState.SHUTOFF, GuestState.PAUSED):

            def shut_down(yes: bool | None) -> None:
                if yes:
                    self.run_operation(SHUTDOWN, host, guest)

            question = (
                f"'{guest.name}' is {guest.state}: a clone needs a shut-off guest, since its "
                "disks change while they are copied. Shut it down now (then press C again)?"
            )
            self.app.push_screen(ConfirmScreen(question, "Shut down"), shut_down)
            return
        from kvmtui.screens.clone_form import CloneFormScreen  # loaded when first opened

        def chosen(request: CloneRequest | None) -> None:
            if request is None or self.jobs is None:
                return
            from kvmtui.backend.clone_job import start_clone

            start_clone(self.jobs, host, guest.uuid, request)
            self.notify(f"Cloning '{guest.name}' as '{request.name}'; J shows the progress.")

        self.app.push_screen(CloneFormScreen(host, guest.uuid, guest.name), chosen)

    def on_action_succeeded(self, message: messages.ActionSucceeded) -> None:
        self.notify(message.text)

    def on_action_failed(self, message: messages.ActionFailed) -> None:
        self.notify(message.text, severity="error", timeout=10)

    # -- hosts -------------------------------------------------------------------------

    def action_reconnect(self) -> None:
        """Retry now: the selected guest's host if it is down, else every host that is."""
        guest = self.table.selected_guest
        down = [h for h in self.hosts.values() if h.status.state is not ConnectionState.CONNECTED]
        selected_host = self.hosts[guest.host] if guest is not None else None
        targets = [selected_host] if selected_host in down else down
        if not targets:
            self.notify("Every host is connected.")
            return
        for host in targets:
            host.reconnect_now()
        self.notify(f"Reconnecting to {', '.join(h.label for h in targets)}…")

    # -- filter ------------------------------------------------------------------------

    async def action_filter(self) -> None:
        bar = self.filter_bar
        if not bar.children:
            # Made at the first /, not at start-up: an input field and its module
            # cost the first frame about 30 ms.
            from textual.widgets import Input, Label

            await bar.mount(
                Label("Filter:", id="filter-label"),
                Input(placeholder="part of a name", id="filter", compact=True),
            )
        bar.display = True
        self.filter_input.focus()
        self.refresh_bindings()

    def action_clear_filter(self) -> None:
        if self.filter_bar.children:
            self.filter_input.value = ""
        self.filter_bar.display = False
        self.table.set_filter("")
        self.table.focus()
        self.refresh_bindings()

    # By name rather than @on(Input.Changed, ...): the class is imported with the field.
    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.table.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "filter":
            return
        if not event.value.strip():
            self.filter_bar.display = False
        self.table.focus()
        self.refresh_bindings()

    # -- help --------------------------------------------------------------------------

    def help_rows(self) -> list[HelpRow]:
        """Every key bound here: this screen's own keys in their order, then the table's,
        then the ones every screen and the app have, several keys of one action joined."""
        from kvmtui.screens.help import HelpRow

        active = self.active_bindings
        rows: list[HelpRow] = []
        own_keys: set[str] = set()
        for binding in self.BINDINGS:
            if not isinstance(binding, Binding):
                continue
            own_keys.add(binding.key)
            entry = active.get(binding.key)
            if entry is None or entry.node is not self:  # hidden by check_action
                reason: str | None = _ONLY_WHEN.get(binding.action, "not available now")
            elif not entry.enabled:
                reason = self.disabled_reason(binding.action) or "not available now"
            else:
                reason = None
            rows.append(HelpRow(self.app.get_key_display(binding), binding.description, reason))

        def rank(entry: ActiveBinding) -> int:
            return 2 if entry.node is self.app else 1 if entry.node is self else 0

        grouped: dict[tuple[int, str], list[ActiveBinding]] = {}
        for key, entry in sorted(active.items(), key=lambda item: rank(item[1])):
            if entry.node is self and key in own_keys:
                continue
            if entry.binding.system or not entry.binding.description:
                continue
            grouped.setdefault((id(entry.node), entry.binding.action), []).append(entry)
        for entries in grouped.values():
            keys = ", ".join(self.app.get_key_display(e.binding) for e in entries)
            reason = None if entries[0].enabled else "not available now"
            rows.append(HelpRow(keys, entries[0].binding.description, reason))
        return rows

    def action_help(self) -> None:
        from kvmtui.screens.help import HelpScreen

        note = READ_ONLY_NOTE if self.readonly else None
        self.app.push_screen(HelpScreen("Keys of the guest list", self.help_rows(), note))
