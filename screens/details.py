"""The details of one guest, kept current by the same messages as the guest list:
its facts, its statistics history as graphs, its disks and NICs with their rates, and
its IP addresses with a ready ssh line (read again every few seconds while it runs).
b sets how often its balloon driver reports memory in use (never set by monitoring);
x detaches its cloud-init seed (shown only for a guest that has one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from kvmtui.backend.addresses import GuestAddresses, read_addresses, read_user
from kvmtui.backend.balloon import set_stats_period
from kvmtui.backend.domain.layout import DomainLayout, read_layout
from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.history import HostHistory
from kvmtui.backend.host import Host
from kvmtui.backend.model import Guest, GuestState
from kvmtui.backend.poller import StatsUpdated
from kvmtui.backend.seed_detach import GuestSeed, detach_seed, read_guest_seed
from kvmtui.backend.throttle import Scope
from kvmtui.screens.balloon import BalloonPeriodScreen
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.guest_tools import TOOL_ACTIONS, TOOL_BINDINGS, GuestToolsScreen
from kvmtui.tui import messages
from kvmtui.tui.polling import Pollers
from kvmtui.tui.widgets.footer import Footer
from kvmtui.tui.widgets.guest_addresses import GuestAddressesSection
from kvmtui.tui.widgets.guest_facts import GuestFacts, GuestSection, PendingChanges
from kvmtui.tui.widgets.guest_stats import GuestDevices, GuestGraphs
from kvmtui.tui.workers import work

#: How often the addresses are read again while the details of a running guest are shown.
ADDRESSES_EVERY_S = 10.0


@dataclass
class SeedLoaded(Message, bubble=False):
    """The guest's cloud-init seed (None: it has none) and the user it creates."""

    uuid: str
    seed: GuestSeed | None
    user: str | None


@dataclass
class AddressesLoaded(Message, bubble=False):
    uuid: str
    addresses: GuestAddresses | None


class DetailsScreen(GuestToolsScreen):
    """Facts, history graphs and devices of one guest; later issues add more sections."""

    CSS_PATH = "details.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
        Binding("space", "app.toggle_stats", "Pause statistics", show=False),
        Binding("d", "app.set_delay", "Refresh interval", show=False),
        Binding(
            "b",
            "stats_period",
            "Memory stats",
            tooltip="How often the balloon driver reports memory in use (0 stops).",
        ),
        Binding(
            "x",
            "detach_seed",
            "Detach seed",
            tooltip="Remove the cloud-init seed disk once the guest has booted "
            "(asks first, then whether to delete its volume).",
        ),
        *TOOL_BINDINGS,
    ]

    def __init__(
        self, guest: Guest, pollers: Pollers | None = None, host: Host | None = None
    ) -> None:
        super().__init__()
        self.guest = guest
        self.pollers = pollers
        self.host = host
        self.gone = False
        self.domain_layout: DomainLayout | None = None
        self.seed: GuestSeed | None = None
        self.seed_user: str | None = None
        self.seed_read = False  # the seed was looked for (found or not)

    def sections(self) -> list[Widget]:
        """The blocks of the screen, top to bottom; add new aspects of a guest here."""
        blocks: list[Widget] = [GuestFacts(self.guest), PendingChanges(self.guest)]
        if self.pollers is not None:
            blocks.append(GuestGraphs(self.guest.uuid, self.guest.max_memory_kib or None))
        blocks.append(GuestDevices())
        blocks.append(GuestAddressesSection(self.guest))
        return blocks

    def compose(self) -> ComposeResult:
        yield Static(self._heading(), id="details-heading")
        with VerticalScroll(id="details-sections"):
            yield from self.sections()
        yield Footer()

    def on_mount(self) -> None:
        if self.pollers is not None:  # read this guest every tick while shown
            self.pollers.pin(self.guest.host, self.guest.uuid)
        if self.host is not None:
            self.load_layout(self.host, self.guest.uuid)
            self.load_seed(self.host, self.guest.uuid)
            self.set_interval(ADDRESSES_EVERY_S, self._read_addresses)
        else:
            self.query_one(GuestDevices).set_layout(None)
        if self.pollers is not None:
            last = self.pollers.last(self.guest.host)
            if last is not None:
                self._show_tick(last, self.pollers.history(self.guest.host))

    def on_unmount(self) -> None:
        if self.pollers is not None:
            self.pollers.unpin(self.guest.host, self.guest.uuid)

    @work(doing="reading the guest's disks and interfaces", group="details-layout", exclusive=True)
    def load_layout(self, host: Host, uuid: str) -> None:
        """Read the domain XML once, off the event loop."""
        try:
            layout = read_layout(host, uuid)
        except KvmtuiError as exc:
            self.post_message(messages.GuestLayoutLoaded(uuid, None, str(exc)))
        else:
            self.post_message(messages.GuestLayoutLoaded(uuid, layout, None))

    def on_guest_layout_loaded(self, message: messages.GuestLayoutLoaded) -> None:
        if message.uuid == self.guest.uuid:
            self.domain_layout = message.layout
            self.refresh_bindings()
            self.query_one(GuestDevices).set_layout(message.layout, message.error)
            self.query_one(GuestFacts).set_layout(message.layout)

    def on_stats_tick(self, message: messages.StatsTick) -> None:
        if message.host == self.guest.host:
            self._show_tick(message.update, message.history)

    def _show_tick(self, update: StatsUpdated, history: HostHistory | None) -> None:
        if history is not None:
            for graphs in self.query(GuestGraphs):
                graphs.show(history)
        disks, nics = update.devices(self.guest.uuid)
        self.query_one(GuestDevices).set_rates(disks, nics)

    def _heading(self) -> Text:
        heading = Text.assemble((self.guest.name, "bold"), " on ", self.guest.host)
        if self.gone:
            heading.append("  — no longer defined on this host", style="bold red")
        return heading

    def _show(self, guest: Guest) -> None:
        self.guest = guest
        self.gone = False
        self.refresh_bindings()
        for section in self.query(GuestSection):
            section.update_guest(guest)
        self.query_one("#details-heading", Static).update(self._heading())

    def _mark_gone(self) -> None:
        if not self.gone:
            self.gone = True
            self.query_one("#details-heading", Static).update(self._heading())

    def on_guest_updated(self, message: messages.GuestUpdated) -> None:
        if message.guest.key == self.guest.key:
            self._show(message.guest)

    def on_guests_loaded(self, message: messages.GuestsLoaded) -> None:
        if message.host != self.guest.host:
            return
        for guest in message.guests:
            if guest.key == self.guest.key:
                self._show(guest)
                return
        self._mark_gone()

    def on_guest_removed(self, message: messages.GuestRemoved) -> None:
        if message.key == self.guest.key:
            self._mark_gone()

    def action_back(self) -> None:
        self.dismiss(None)

    # -- addresses and the cloud-init seed ----------------------------------------------

    @work(doing="reading the guest's cloud-init seed", group="details-seed", exclusive=True)
    def load_seed(self, host: Host, uuid: str) -> None:
        try:
            seed = read_guest_seed(host, uuid)
        except KvmtuiError:
            seed = None
        self.post_message(SeedLoaded(uuid, seed, read_user(host, seed)))

    def on_seed_loaded(self, message: SeedLoaded) -> None:
        if message.uuid != self.guest.uuid:
            return
        self.seed, self.seed_user = message.seed, message.user
        self.seed_read = True
        self.refresh_bindings()
        self._read_addresses()

    def _read_addresses(self) -> None:
        if self.host is not None and not self.gone and self.guest.state.active:
            self.load_addresses(self.host, self.guest.uuid, self.seed_user)
        elif not self.guest.state.active:
            stopped = GuestAddresses((), None, self.seed_user, ("the guest is not running",))
            self.post_message(AddressesLoaded(self.guest.uuid, stopped))

    @work(doing="reading the guest's addresses", group="details-addresses", exclusive=True)
    def load_addresses(self, host: Host, uuid: str, user: str | None) -> None:
        try:
            found = read_addresses(host, uuid, user)
        except KvmtuiError as exc:
            found = GuestAddresses((), None, user, (str(exc),))
        self.post_message(AddressesLoaded(uuid, found))

    def on_addresses_loaded(self, message: AddressesLoaded) -> None:
        if message.uuid == self.guest.uuid:
            section = self.query_one(GuestAddressesSection)
            section.set_addresses(message.addresses, self.seed is not None)

    def detach_seed_reason(self) -> str | None:
        if self.host is None or self.gone:
            return "the guest is gone"
        if self.seed is None:
            return "the guest has no cloud-init seed attached"
        if self.host.readonly:
            return "read-only connection"
        return None

    def action_detach_seed(self) -> None:
        reason = self.detach_seed_reason()
        host, seed, guest = self.host, self.seed, self.guest
        if reason is not None or host is None or seed is None:
            self.notify(f"Cannot detach the cloud-init seed: {reason}.")
            return
        where = "its definition and, where its bus allows, the running guest"
        if seed.first_boot_pending:
            why = (
                "Its first boot has not ended as far as kvmtui knows (it is still marked for "
                "the automatic detach): without the seed, cloud-init cannot create the user "
                "or install the SSH keys. "
            )
        else:
            why = "cloud-init reads it on the first boot only. "
        question = (
            f"Detach the cloud-init seed {seed.text} from '{guest.name}'? {why}It is "
            f"removed from {where if guest.state.active else 'its definition'}."
        )

        def delete_asked(delete: bool | None) -> None:
            if delete is None:  # escape: the whole action is cancelled
                self.notify("Nothing detached.")
                return
            self.run_detach(host, guest, delete)

        def detach_asked(yes: bool | None) -> None:
            if yes:
                self.app.push_screen(
                    ConfirmScreen(
                        f"Also delete the seed volume {seed.pool}/{seed.volume}? It holds the "
                        "user-data (SSH keys, password hash). y deletes it; n keeps it; "
                        "escape detaches nothing.",
                        "Delete volume",
                        no_label="Keep volume",
                        escape_cancels=True,
                    ),
                    delete_asked,
                )

        self.app.push_screen(ConfirmScreen(question, "Detach"), detach_asked)

    @work(doing="detaching the cloud-init seed", group="details-seed")
    def run_detach(self, host: Host, guest: Guest, delete_volume: bool) -> None:
        try:
            sentence = detach_seed(host, guest.uuid, delete_volume=delete_volume)
        except KvmtuiError as exc:
            self.post_message(messages.ActionFailed(str(exc)))
            return
        self.post_message(messages.ActionSucceeded(sentence))
        self.load_seed(host, guest.uuid)

    # -- the guest's console, agent and limits ----------------------------------------

    def tool_target(self) -> tuple[Host, Guest] | None:
        if self.host is None or self.gone:
            return None
        return self.host, self.guest

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in TOOL_ACTIONS:
            return None if self.tool_reason(action) else True
        if action == "stats_period":
            return None if self.stats_period_reason() else True
        if action == "detach_seed":
            if self.seed is None:
                return False  # shown only for a guest with a seed
            return None if self.detach_seed_reason() else True
        return True

    # -- the balloon's statistics period ----------------------------------------------

    def stats_period_reason(self) -> str | None:
        """Why b cannot set the period now, or None when it can."""
        if self.host is None or self.gone:
            return "the guest is gone"
        if self.host.readonly:
            return "read-only connection"
        if self.guest.state is GuestState.UNKNOWN:
            return "the guest's host is unreachable"
        if self.domain_layout is None:
            return "its devices are not read yet"
        if not self.domain_layout.balloon.present:
            return "the guest has no balloon device"
        return None

    def action_stats_period(self) -> None:
        reason = self.stats_period_reason()
        if reason is not None or self.host is None:
            self.notify(f"Cannot set the memory statistics period: {reason}.")
            return
        host, guest = self.host, self.guest
        running = guest.state.active

        def answered(choice: tuple[int, Scope] | None) -> None:
            if choice is not None:
                self.apply_stats_period(host, guest, *choice)

        balloon = self.domain_layout.balloon if self.domain_layout is not None else None
        question = BalloonPeriodScreen(
            guest.name, balloon, running=running, persistent=guest.persistent
        )
        self.app.push_screen(question, answered)

    @work(doing="setting the balloon statistics period", group="balloon")
    def apply_stats_period(self, host: Host, guest: Guest, seconds: int, scope: Scope) -> None:
        """Call the backend off the event loop; the outcome comes back as a message."""
        try:
            set_stats_period(host, guest.uuid, seconds, scope)
        except KvmtuiError as exc:
            self.post_message(messages.ActionFailed(str(exc)))
            return
        every = f"every {seconds} s" if seconds else "no more (period 0)"
        self.post_message(
            messages.ActionSucceeded(
                f"{guest.name} reports its memory in use {every}: {scope.text}."
            )
        )
        self.load_layout(host, guest.uuid)

    def on_action_succeeded(self, message: messages.ActionSucceeded) -> None:
        self.notify(message.text)

    def on_action_failed(self, message: messages.ActionFailed) -> None:
        self.notify(message.text, severity="error", timeout=10)
