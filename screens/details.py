"""The details of one guest, kept current by the same messages as the guest list."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from backend.model import Guest
from tui import messages
from tui.widgets.guest_facts import GuestFacts, GuestSection


class DetailsScreen(Screen[None]):
    """Static facts now; later issues add sections (stats, console, agent)."""

    CSS_PATH = "details.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
    ]

    def __init__(self, guest: Guest) -> None:
        super().__init__()
        self.guest = guest
        self.gone = False

    def sections(self) -> list[GuestSection]:
        """The blocks of the screen, top to bottom; add new aspects of a guest here."""
        return [GuestFacts(self.guest)]

    def compose(self) -> ComposeResult:
        yield Static(self._heading(), id="details-heading")
        with VerticalScroll(id="details-sections"):
            yield from self.sections()
        yield Footer()

    def _heading(self) -> Text:
        heading = Text.assemble((self.guest.name, "bold"), " on ", self.guest.host)
        if self.gone:
            heading.append("  — no longer defined on this host", style="bold red")
        return heading

    def _show(self, guest: Guest) -> None:
        self.guest = guest
        self.gone = False
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
