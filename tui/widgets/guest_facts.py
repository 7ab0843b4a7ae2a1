"""Sections of the guest details screen; each one redraws itself from a Guest."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from kvmtui.backend.domain.layout import DomainLayout
from kvmtui.backend.model import Guest
from kvmtui.tui.format import UNKNOWN, human_kib, state_text


class GuestSection(Vertical):
    """A titled block of the details screen. Subclasses draw one aspect of a guest."""

    DEFAULT_CSS = """
    GuestSection {
        height: auto;
        margin-bottom: 1;
    }
    GuestSection > .section-title {
        text-style: bold;
        color: $accent;
    }
    """

    TITLE = ""

    def __init__(self, guest: Guest) -> None:
        super().__init__()
        self.guest = guest

    def compose(self) -> ComposeResult:
        yield Static(self.TITLE, classes="section-title")
        yield Static(self.render_guest(self.guest), classes="section-body")

    def update_guest(self, guest: Guest) -> None:
        if guest != self.guest:
            self.guest = guest
            self.redraw()

    def redraw(self) -> None:
        if self.is_mounted:
            self.query_one(".section-body", Static).update(self.render_guest(self.guest))

    def render_guest(self, guest: Guest) -> Table | Text:
        raise NotImplementedError


class GuestFacts(GuestSection):
    """What libvirt says about the guest: identity, state, size, start-up."""

    TITLE = "Guest"

    def __init__(self, guest: Guest) -> None:
        super().__init__(guest)
        self.domain_layout: DomainLayout | None = None

    def set_layout(self, layout: DomainLayout | None) -> None:
        """Add what only the domain XML says (OS type), once it has been read."""
        self.domain_layout = layout
        self.redraw()

    def render_guest(self, guest: Guest) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="dim", no_wrap=True)
        table.add_column()
        state = state_text(guest.state)
        if guest.reason and guest.reason != "unknown":
            state.append(f" ({guest.reason})", style="dim")
        if guest.memory_kib is None or guest.max_memory_kib is None:
            memory = UNKNOWN  # the host is still reading it (see Guest)
        else:
            memory = human_kib(guest.memory_kib)
            if guest.max_memory_kib != guest.memory_kib:
                memory = f"{memory} of {human_kib(guest.max_memory_kib)} maximum"
        rows: list[tuple[str, str | Text]] = [
            ("Host", guest.host),
            ("Name", guest.name),
            ("UUID", guest.uuid),
            ("State", state),
            ("ID", str(guest.domain_id) if guest.domain_id is not None else "-"),
            ("vCPUs", str(guest.vcpus) if guest.vcpus is not None else UNKNOWN),
            ("Memory", memory),
            ("Autostart", "yes" if guest.autostart else "no"),
            ("Persistent", "yes" if guest.persistent else "no (transient)"),
        ]
        if self.domain_layout is not None:
            # After Memory: how often the balloon driver reports memory in use, the
            # reason %MEM shows a dash when it does not.
            rows.insert(7, ("Memory stats", self.domain_layout.balloon.text))
            rows.insert(6, ("OS type", self.domain_layout.os_text))
        for label, value in rows:
            table.add_row(label, value)
        return table


class PendingChanges(GuestSection):
    """What waits for the guest's next boot, in words; shown only while something does
    (the guest list marks the same guests with ↻)."""

    TITLE = "Waiting for a restart (↻)"

    def on_mount(self) -> None:
        self.display = bool(self.guest.pending)

    def redraw(self) -> None:
        super().redraw()
        self.display = bool(self.guest.pending)

    def render_guest(self, guest: Guest) -> Text:
        text = Text()
        for number, change in enumerate(guest.pending):
            if number:
                text.append("\n")
            text.append("• ", style="yellow")
            text.append(change)
        return text
