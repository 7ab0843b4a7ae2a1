"""The agent panel's sections: what the guest agent told, formatted for reading.

Each section is a titled block drawn from an :class:`~backend.agent_info.AgentPanel`;
a section the agent could not fill shows why instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from kvmtui.backend.agent_info import (
    AgentPanel,
    Filesystem,
    GuestClock,
    GuestDisk,
    GuestInterface,
    GuestUser,
)
from kvmtui.tui.format import human_kib, literal, printable

DASH = "-"


def size_text(size_bytes: int | None) -> str:
    return human_kib(size_bytes // 1024) if size_bytes is not None else DASH


def _zone(offset_s: int) -> timezone:
    return UTC if offset_s == 0 else timezone(timedelta(seconds=offset_s))


def guest_time_text(clock: GuestClock) -> str:
    """The guest's time in its own zone: ``2026-11-26 05:03:07 UTC (UTC+00:00)``."""
    offset = clock.offset_s or 0
    moment = datetime.fromtimestamp(clock.guest_epoch, _zone(offset))
    hours, minutes = divmod(abs(offset) // 60, 60)
    sign = "+" if offset >= 0 else "-"
    zone = clock.zone or "zone unknown"
    return f"{moment:%Y-%m-%d %H:%M:%S} {zone} (UTC{sign}{hours:02d}:{minutes:02d})"


def drift_text(drift_s: float) -> Text:
    """How far the guest's clock is from the host's; yellow past 1 s, red past a minute."""
    size = abs(drift_s)
    if size < 0.05:
        return Text("in step with the host (under 0.05 s)", style="green")
    amount = f"{size:.2f} s" if size < 60 else f"{size / 60:.1f} min"
    side = "ahead of" if drift_s > 0 else "behind"
    style = "green" if size < 1 else "yellow" if size < 60 else "bold red"
    return Text(f"{amount} {side} the host", style=style)


def _cell(value: RenderableType) -> RenderableType:
    """What the guest said, as a table cell: a plain string is the guest's, never markup."""
    return literal(value) if isinstance(value, str) else value


def _facts(rows: list[tuple[str, RenderableType]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for label, value in rows:
        table.add_row(label, _cell(value))
    return table


def _add_row(table: Table, *cells: RenderableType) -> None:
    table.add_row(*map(_cell, cells))


def _grid(*headers: str) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, padding=(0, 2, 0, 0))
    for header in headers:
        table.add_column(header, header_style="bold", no_wrap=True)
    return table


def system_body(panel: AgentPanel) -> RenderableType:
    rows: list[tuple[str, RenderableType]] = []
    if panel.os is not None:
        os_info = panel.os
        details = ", ".join(
            part
            for part in (
                os_info.name,
                f"version {os_info.version or os_info.version_id}"
                if os_info.version or os_info.version_id
                else None,
                os_info.machine,
            )
            if part
        )
        rows.append(("OS", f"{os_info.title}  ({details})" if details else os_info.title))
        rows.append(("Kernel", os_info.kernel_release or DASH))
        if os_info.kernel_version:
            rows.append(("Build", os_info.kernel_version))
    else:
        rows.append(("OS", _missing(panel, "os", "guest_info")))
    rows.append(("Hostname", panel.hostname or _missing(panel, "hostname", "guest_info")))
    if panel.vcpus is not None:
        online = panel.vcpus.online
        ids = ", ".join(map(str, online)) if online else "none"
        rows.append(("vCPUs online", f"{len(online)} of {len(panel.vcpus.ids)} (ids {ids})"))
    else:
        rows.append(("vCPUs online", _missing(panel, "vcpus")))
    return _facts(rows)


def clock_body(panel: AgentPanel) -> RenderableType:
    clock = panel.clock
    if clock is None:
        return _missing(panel, "time")
    return _facts([("Guest time", guest_time_text(clock)), ("Drift", drift_text(clock.drift_s))])


def users_body(users: tuple[GuestUser, ...]) -> RenderableType:
    if not users:
        return Text("Nobody is logged in.", style="dim")
    table = _grid("User", "Domain", "Logged in since (UTC)")
    for user in users:
        since = (
            f"{datetime.fromtimestamp(user.login_epoch, UTC):%Y-%m-%d %H:%M:%S}"
            if user.login_epoch is not None
            else DASH
        )
        _add_row(table, user.name, user.domain or DASH, since)
    return table


def filesystems_body(filesystems: tuple[Filesystem, ...]) -> RenderableType:
    if not filesystems:
        return Text("No disk-backed filesystem is mounted.", style="dim")
    table = _grid("Mount point", "Type", "Device", "Used", "Total", "Use", "Disks")
    for fs in filesystems:
        share = (
            f"{100 * fs.used_bytes / fs.total_bytes:.0f}%"
            if fs.used_bytes is not None and fs.total_bytes
            else DASH
        )
        _add_row(
            table,
            fs.mountpoint,
            fs.fstype,
            fs.device,
            size_text(fs.used_bytes),
            size_text(fs.total_bytes),
            share,
            ", ".join(fs.disks) or DASH,
        )
    return table


def disks_body(disks: tuple[GuestDisk, ...]) -> RenderableType:
    if not disks:
        return Text("The agent reports no disks.", style="dim")
    table = _grid("Guest device", "Host disk", "Partition", "Serial", "On")
    for disk in disks:
        _add_row(
            table,
            disk.name,
            disk.alias or DASH,
            "yes" if disk.partition else "no",
            disk.serial or DASH,
            ", ".join(disk.dependencies) or DASH,
        )
    return table


def interfaces_body(interfaces: tuple[GuestInterface, ...]) -> RenderableType:
    if not interfaces:
        return Text("The agent reports no network interfaces.", style="dim")
    table = _grid("Interface", "MAC", "Addresses")
    for nic in interfaces:
        addresses = Text("\n").join(literal(a.text) for a in nic.addresses) or DASH
        _add_row(table, nic.name, nic.mac or DASH, addresses)
    return table


def commands_body(panel: AgentPanel) -> RenderableType:
    caps = panel.capabilities
    if caps is None:
        return _missing(panel, "capabilities")
    text = Text(
        f"qemu-ga {caps.version}: {caps.enabled_count} of {len(caps.commands)} enabled\n",
        style="bold",
    )
    for index, (name, enabled) in enumerate(sorted(caps.commands)):
        if index:
            text.append("  ")
        name = printable(name)
        text.append(name if enabled else f"{name} (disabled)", style="" if enabled else "dim")
    return text


def _missing(panel: AgentPanel, *sections: str) -> Text:
    for section in sections:
        why = panel.problems.get(section)
        if why:
            return literal(why, style="yellow")
    return Text("Not read.", style="dim")


def users_section(panel: AgentPanel) -> RenderableType:
    if panel.users is None:
        return _missing(panel, "users", "guest_info")
    return users_body(panel.users)


def filesystems_section(panel: AgentPanel) -> RenderableType:
    if panel.filesystems is None:
        return _missing(panel, "filesystems", "guest_info")
    return filesystems_body(panel.filesystems)


def disks_section(panel: AgentPanel) -> RenderableType:
    if panel.disks is None:
        return _missing(panel, "disks", "guest_info")
    return disks_body(panel.disks)


def interfaces_section(panel: AgentPanel) -> RenderableType:
    if panel.interfaces is None:
        return _missing(panel, "interfaces")
    return interfaces_body(panel.interfaces)


#: Each section's id, title and how to draw its body, top to bottom.
SECTIONS: tuple[tuple[str, str, Callable[[AgentPanel], RenderableType]], ...] = (
    ("system", "System", system_body),
    ("clock", "Clock", clock_body),
    ("users", "Logged-in users", users_section),
    ("filesystems", "Filesystems", filesystems_section),
    ("disks", "Disks", disks_section),
    ("interfaces", "Network interfaces", interfaces_section),
    ("commands", "Supported commands", commands_body),
)


class AgentSection(Vertical):
    """One titled block of the agent panel."""

    DEFAULT_CSS = """
    AgentSection {
        height: auto;
        margin-bottom: 1;
    }
    AgentSection > .section-title {
        text-style: bold;
        color: $accent;
    }
    """

    def __init__(self, key: str, title: str, body: RenderableType) -> None:
        super().__init__(id=f"agent-{key}")
        self.section_key = key
        self.section_title = title
        self.body = body

    def compose(self) -> ComposeResult:
        yield Static(self.section_title, classes="section-title")
        yield Static(self.body, classes="section-body")

    def show(self, body: RenderableType) -> None:
        self.body = body
        if self.is_mounted:
            self.query_one(".section-body", Static).update(body)


def section_widgets(panel: AgentPanel | None, placeholder: str) -> list[AgentSection]:
    """The panel's sections; before a first read each shows ``placeholder``."""
    return [
        AgentSection(key, title, render(panel) if panel is not None else Text(placeholder, "dim"))
        for key, title, render in SECTIONS
    ]


def show_panel(sections: list[AgentSection], panel: AgentPanel) -> None:
    renders = {key: render for key, _title, render in SECTIONS}
    for section in sections:
        section.show(renders[section.section_key](panel))
