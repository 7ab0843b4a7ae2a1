"""The migration dialog (`m` on a guest): destination, options, pre-flight.

The destination is any other connected host of the list, or a URI typed in. Each
option has its one-line explanation under it. The pre-flight runs in a worker when the
dialog opens and again after every change (debounced), and its sentences are shown;
``ctrl+s`` runs it once more and, when it finds nothing, hands the request back to the
guest list, which starts the migration as a job and opens its progress view. What the
pre-flight could not check (a disk no storage pool on the destination covers) is a
warning: ctrl+s starts only once the warnings shown are the ones found, so the admin has
seen them before confirming.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Checkbox, Input, Select, Static

from kvmtui.backend import migrate
from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.host import Host
from kvmtui.backend.migrate_options import EXPLAIN, CopyStorage, MigrationOptions
from kvmtui.backend.model import Guest, GuestState
from kvmtui.tui.widgets.footer import Footer
from kvmtui.tui.workers import work

#: A pause in typing this long runs the pre-flight again.
DEBOUNCE_S = 0.4
TYPED = "typed"  # the destination select's value for "the URI typed below"

#: The boolean options in the order shown, with their short labels.
TOGGLES: tuple[tuple[str, str], ...] = (
    ("live", "Live"),
    ("persistent", "Persistent on the destination"),
    ("undefine_source", "Undefine on the source"),
    ("auto_converge", "Auto-converge"),
    ("postcopy", "Post-copy allowed"),
    ("compressed", "Compression"),
    ("peer_to_peer", "Peer-to-peer"),
    ("tunnelled", "Tunnelled"),
    ("unsafe", "Unsafe (shared storage libvirt cannot see)"),
)
NUMBERS: tuple[tuple[str, str], ...] = (
    ("bandwidth_mib_s", "Max bandwidth MiB/s"),
    ("max_downtime_ms", "Max downtime ms"),
)


@dataclass(frozen=True, slots=True)
class MigrationRequest:
    """What the dialog hands back: where to, and how."""

    dest: Host | None  # a host of the list, or None for the typed URI
    uri: str
    options: MigrationOptions


@dataclass
class PreflightDone(Message, bubble=False):
    generation: int
    problems: list[str]
    warnings: list[str]
    go: bool


class MigrateDialog(ModalScreen[MigrationRequest | None]):
    CSS_PATH = "migrate.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "migrate", "Migrate", tooltip="Check again and start the migration."),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, host: Host, guest: Guest, others: Sequence[Host]) -> None:
        super().__init__()
        self.host = host
        self.guest = guest
        self.others = list(others)
        self.generation = 0
        self.problems: list[str] | None = None
        #: The warnings on show with "ready" (ctrl+s goes ahead only past these).
        self.warnings_shown: tuple[str, ...] | None = None
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        running = self.guest.state in (GuestState.RUNNING, GuestState.BLOCKED, GuestState.PAUSED)
        defaults = MigrationOptions(live=running)
        choices = [(h.label, h.label) for h in self.others] + [("a URI typed below", TYPED)]
        with Vertical(classes="dialog"):
            yield Static(
                f"Migrate '{self.guest.name}' from {self.host.label}", classes="title"
            )
            with VerticalScroll(id="fields"):
                with Horizontal(classes="row"):
                    yield Static("Destination", classes="name")
                    yield Select(choices, value=choices[0][1], allow_blank=False,
                                 id="dest", compact=True)  # fmt: skip
                with Horizontal(classes="row"):
                    yield Static("URI", classes="name")
                    yield Input(placeholder="qemu+ssh://root@kvm2/system", id="uri",
                                compact=True)  # fmt: skip
                for name, label in TOGGLES:
                    yield Checkbox(label, getattr(defaults, name), id=name, compact=True)
                    yield Static(EXPLAIN[name], classes="explain")
                with Horizontal(classes="row"):
                    yield Static("Copy storage", classes="name")
                    yield Select([(c.value, c.value) for c in CopyStorage], allow_blank=False,
                                 value=CopyStorage.NONE.value, id="copy_storage",
                                 compact=True)  # fmt: skip
                yield Static(EXPLAIN["copy_storage"], classes="explain")
                with Horizontal(classes="row"):
                    yield Static("Destination pool", classes="name")
                    yield Input(placeholder="the pool over the disk's directory",
                                id="dest_pool", compact=True)  # fmt: skip
                yield Static(EXPLAIN["dest_pool"], classes="explain")
                for name, label in NUMBERS:
                    with Horizontal(classes="row"):
                        yield Static(label, classes="name")
                        yield Input("0", id=name, compact=True, type="integer")
                    yield Static(EXPLAIN[name], classes="explain")
            yield Static("Pre-flight: checking...", id="preflight")
            yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#dest", Select).focus()
        self._check_soon()

    # -- reading the form -----------------------------------------------------------

    def destination(self) -> tuple[Host | None, str]:
        value = self.query_one("#dest", Select).value
        if value == TYPED:
            return None, self.query_one("#uri", Input).value.strip()
        host = next((h for h in self.others if h.label == value), None)
        return host, (host.uri or "") if host else ""

    def options(self) -> MigrationOptions:
        """The options as set; ValueError with a sentence for a bad number."""
        values: dict[str, object] = {
            name: self.query_one(f"#{name}", Checkbox).value for name, _ in TOGGLES
        }
        for name, label in NUMBERS:
            text = self.query_one(f"#{name}", Input).value.strip() or "0"
            try:
                number = int(text)
            except ValueError:
                number = -1
            if number < 0:
                raise ValueError(f"{label} must be a whole number, 0 or more, not '{text}'.")
            values[name] = number
        values["copy_storage"] = CopyStorage(str(self.query_one("#copy_storage", Select).value))
        values["dest_pool"] = self.query_one("#dest_pool", Input).value.strip() or None
        return MigrationOptions(**values)  # type: ignore[arg-type]

    # -- the pre-flight -----------------------------------------------------------------

    @on(Checkbox.Changed)
    @on(Select.Changed)
    @on(Input.Changed)
    def _changed(self) -> None:
        self._check_soon()

    def _check_soon(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE_S, lambda: self._check(go=False))

    def _show(self, text: str, problem: bool, warning: bool = False) -> None:
        shown = self.query_one("#preflight", Static)
        shown.update(text)
        shown.set_class(problem, "problem")
        shown.set_class(warning and not problem, "warning")

    def _check(self, *, go: bool) -> None:
        self.generation += 1
        dest, uri = self.destination()
        try:
            options = self.options()
        except ValueError as exc:
            self._show(f"Pre-flight: {exc} Nothing was started.", True)
            return
        if dest is None and not uri:
            self._show("Pre-flight: type the destination's URI.", True)
            return
        self._show("Pre-flight: checking...", False)
        self._run_check(self.generation, dest, uri, options, go)

    @work(doing=lambda self, *_: f"checking the migration of '{self.guest.name}'",
          group="preflight")  # fmt: skip
    def _run_check(
        self, generation: int, dest: Host | None, uri: str, options: MigrationOptions, go: bool
    ) -> None:
        warnings: list[str] = []
        try:
            if dest is not None:
                found = migrate.preflight(
                    self.host, self.guest.uuid, migrate.destination_of(dest), options
                )
            else:
                with migrate.typed_destination(uri, readonly=self.host.readonly) as typed:
                    found = migrate.preflight(self.host, self.guest.uuid, typed, options)
            problems, warnings = found.problems, found.warnings
        except KvmtuiError as exc:
            problems = [str(exc)]
        self.post_message(PreflightDone(generation, problems, warnings, go))

    def on_preflight_done(self, message: PreflightDone) -> None:
        if message.generation != self.generation:
            return  # a later change asked again
        self.problems = message.problems
        if message.problems:
            self.warnings_shown = None
            lines = "\n".join(f"✗ {p}" for p in message.problems)
            self._show(f"Pre-flight found problems; nothing was sent:\n{lines}", True)
            return
        warnings = tuple(message.warnings)
        seen = warnings == self.warnings_shown
        if warnings:
            lines = "\n".join(f"⚠ {w}" for w in warnings)
            self._show(f"Pre-flight: ready, but not everything could be checked:\n{lines}\n"
                       "ctrl+s migrates anyway.", False, warning=True)  # fmt: skip
        else:
            self._show("Pre-flight: ✓ ready; ctrl+s migrates.", False)
        self.warnings_shown = warnings or None
        if message.go and (seen or not warnings):
            dest, uri = self.destination()
            self.dismiss(MigrationRequest(dest, uri, self.options()))

    @property
    def preflight_text(self) -> str:
        return str(self.query_one("#preflight", Static).render())

    def action_migrate(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._check(go=True)

    def action_cancel(self) -> None:
        self.dismiss(None)
