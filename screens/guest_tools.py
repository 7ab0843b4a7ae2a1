"""Screens one guest opens from the guest list and the details screen: its serial
console, its guest agent and its I/O limits. One table of keys, one way to open each."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from kvmtui.backend.console import can_open
from kvmtui.backend.host import Host
from kvmtui.backend.model import Guest, GuestState

# The tools' screens (and pyte behind the console) are imported when one opens: the
# guest list, the first screen, does not wait for them.

TOOL_BINDINGS: list[Binding] = [
    Binding("c", "console", "Console", tooltip="The guest's serial console (Ctrl+] leaves)."),
    Binding("g", "agent", "Agent", show=False, tooltip="The guest agent: facts and commands."),
    Binding("t", "throttle", "Throttle", show=False, tooltip="Disk I/O and network limits."),
]
TOOL_ACTIONS = frozenset({"console", "agent", "throttle"})


def tool_disabled_reason(action: str, host: Host | None, guest: Guest | None) -> str | None:
    """Why a guest tool cannot open now, or None when it can."""
    if host is None or guest is None:
        return "no guest selected"
    if guest.state is GuestState.UNKNOWN:
        return "the guest's host is unreachable"
    if action == "console":
        return can_open(host, guest)
    return None


def open_tool(app: App[object], action: str, host: Host, guest: Guest) -> str | None:
    """Open the screen for ``action``; the reason when it cannot open."""
    reason = tool_disabled_reason(action, host, guest)
    if action == "console":
        from kvmtui.screens.console import show_console

        return show_console(app, host, guest.uuid, guest.name)
    if reason is not None:
        return reason
    if action == "agent":
        from kvmtui.screens.agent import AgentScreen

        app.push_screen(AgentScreen(host, guest.uuid))
    elif action == "throttle":
        from kvmtui.screens.throttle import ThrottleScreen

        app.push_screen(ThrottleScreen(host, guest.uuid))
    return None


class GuestToolsScreen(Screen[None]):
    """A screen about one selected guest: c, g and t open its console, agent and limits.

    Subclasses say which guest with :meth:`tool_target` and include ``TOOL_BINDINGS``.
    """

    def tool_target(self) -> tuple[Host, Guest] | None:
        raise NotImplementedError

    def tool_reason(self, action: str) -> str | None:
        """Why ``action`` cannot open now (for check_action and help), or None."""
        target = self.tool_target()
        if target is None:
            return "no guest selected"
        return tool_disabled_reason(action, *target)

    def _open_tool(self, action: str) -> None:
        target = self.tool_target()
        if target is None:
            return
        reason = open_tool(self.app, action, *target)
        if reason is not None:
            self.notify(f"Cannot open the {action} of '{target[1].name}': {reason}.")

    def action_console(self) -> None:
        self._open_tool("console")

    def action_agent(self) -> None:
        self._open_tool("agent")

    def action_throttle(self) -> None:
        self._open_tool("throttle")
