"""The details' Addresses section: the running guest's IP addresses (agent, DHCP lease
or ARP, whichever answered) and a ready ``ssh USER@IP`` line. Shown once there is an
address, or while a guest with a cloud-init seed waits for one (with why not yet)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from kvmtui.backend.addresses import GuestAddresses
from kvmtui.backend.model import Guest
from kvmtui.tui.widgets.guest_facts import GuestSection


class GuestAddressesSection(GuestSection):
    TITLE = "Addresses"

    def __init__(self, guest: Guest) -> None:
        super().__init__(guest)
        self.addresses: GuestAddresses | None = None
        self.has_seed = False

    def on_mount(self) -> None:
        self._show_or_hide()

    def set_addresses(self, addresses: GuestAddresses | None, has_seed: bool) -> None:
        self.addresses = addresses
        self.has_seed = has_seed
        self.redraw()
        self._show_or_hide()

    def _show_or_hide(self) -> None:
        found = self.addresses is not None and bool(self.addresses.addresses)
        self.display = found or self.has_seed

    def render_guest(self, guest: Guest) -> Table | Text:
        addresses = self.addresses
        if addresses is None:
            return Text("reading…", style="dim")
        if not addresses.addresses:
            why = "; ".join(addresses.notes) or "no source answered"
            return Text(f"none yet ({why})", style="dim")
        table = Table.grid(padding=(0, 2))
        table.add_column(style="dim", no_wrap=True)
        table.add_column()
        for address in addresses.addresses:
            table.add_row(address.interface, address.text)
        table.add_row("from", addresses.source or "?")
        if addresses.ssh_line:
            table.add_row("ssh", Text(addresses.ssh_line, style="bold"))
        return table
