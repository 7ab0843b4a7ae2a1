"""Screens one guest opens from the guest list and the details screen: its serial
console, its graphical display, its guest agent, its I/O limits, its configuration
editor and its definition as XML. One table of keys, one way to open each.

Whether a guest has a display at all is in its XML (an RPC): it is looked up in a worker
when a running guest is selected, kept per guest, and greys out ``v`` once known."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from kvmtui.backend import display
from kvmtui.backend.console import can_open
from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.host import Host
from kvmtui.backend.model import Guest, GuestState
from kvmtui.tui.workers import work

# The tools' screens (and pyte behind the console) are imported when one opens: the
# guest list, the first screen, does not wait for them.

TOOL_BINDINGS: list[Binding] = [
    Binding("c", "console", "Console", tooltip="The guest's serial console (Ctrl+] leaves)."),
    Binding(
        "v",
        "display",
        "Display",
        show=False,
        tooltip="The guest's graphical screen, keys sent to it (Ctrl+] leaves).",
    ),
    Binding("g", "agent", "Agent", show=False, tooltip="The guest agent: facts and commands."),
    Binding("t", "throttle", "Throttle", show=False, tooltip="Disk I/O and network limits."),
    Binding(
        "e",
        "config_editor",
        "Configure",
        show=False,
        tooltip="vCPUs, memory, disks, CD-ROM, NICs, boot, identity: previewed, then applied.",
    ),
    Binding(
        "E",
        "xml_editor",
        "Edit XML",
        show=False,
        tooltip="The saved definition as XML: edit, see the diff, save (read-only: view).",
    ),
]
TOOL_ACTIONS = frozenset(
    {"console", "display", "agent", "throttle", "config_editor", "xml_editor"}
)


def tool_disabled_reason(
    action: str, host: Host | None, guest: Guest | None, no_display: str | None = None
) -> str | None:
    """Why a guest tool cannot open now, or None when it can. NO_DISPLAY is the known
    reason the guest has no display (from its XML), if any."""
    if host is None or guest is None:
        return "no guest selected"
    if guest.state is GuestState.UNKNOWN:
        return "the guest's host is unreachable"
    if action == "console":
        return can_open(host, guest)
    if action == "display":
        return display.can_show(host, guest) or no_display
    return None


@dataclass
class DisplayKnown(Message, bubble=False):
    """Whether a guest has a display: None when it has, else the reason."""

    key: str
    reason: str | None


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
    elif action == "display":
        from kvmtui.screens.display import DisplayScreen

        app.push_screen(DisplayScreen(host, guest.uuid, guest.name))
    elif action == "config_editor":
        from kvmtui.screens.config_editor import ConfigEditorScreen  # loaded when first opened

        app.push_screen(ConfigEditorScreen(host, guest.uuid, guest.name))
    elif action == "xml_editor":
        from kvmtui.screens.xml_editor import XmlEditorScreen  # loaded when first opened

        app.push_screen(XmlEditorScreen(host, guest))
    return None


class GuestToolsScreen(Screen[None]):
    """A screen about one selected guest: c, g and t open its console, agent and limits.

    Subclasses say which guest with :meth:`tool_target` and include ``TOOL_BINDINGS``.
    """

    #: Guests whose display was looked up: None when they have one, else the reason.
    displays: dict[str, str | None]
    #: Guests whose display is being or was looked up (once per guest and screen).
    display_lookups: set[str]

    def tool_target(self) -> tuple[Host, Guest] | None:
        raise NotImplementedError

    def tool_reason(self, action: str) -> str | None:
        """Why ``action`` cannot open now (for check_action and help), or None."""
        target = self.tool_target()
        if target is None:
            return "no guest selected"
        host, guest = target
        if action == "display":
            self.learn_display()
        known = self._displays().get(guest.key)
        return tool_disabled_reason(action, host, guest, known)

    def _displays(self) -> dict[str, str | None]:
        if not hasattr(self, "displays"):
            self.displays = {}
            self.display_lookups = set()
        return self.displays

    def learn_display(self) -> None:
        """Look up once, in a worker, whether the selected running guest has a display."""
        target = self.tool_target()
        if target is None:
            return
        host, guest = target
        self._displays()
        if guest.key in self.display_lookups or display.can_show(host, guest) is not None:
            return
        self.display_lookups.add(guest.key)  # v stays usable until the answer comes
        self._look_up_display(host, guest)

    @work(doing=lambda self, host, guest: f"reading the devices of '{guest.name}'",
          group="display-lookup")  # fmt: skip
    def _look_up_display(self, host: Host, guest: Guest) -> None:
        try:
            reason = display.has_display(host, guest.uuid)
        except KvmtuiError:
            reason = None  # the screen itself will say what is wrong
        self.post_message(DisplayKnown(guest.key, reason))

    def forget_display(self, key: str) -> None:
        """Look the guest's display up again when next selected (it changed state); the
        last answer stands until the new one comes."""
        self._displays()
        self.display_lookups.discard(key)

    def on_display_known(self, message: DisplayKnown) -> None:
        self._displays()[message.key] = message.reason
        self.refresh_bindings()

    def _open_tool(self, action: str) -> None:
        target = self.tool_target()
        if target is None:
            return
        reason = self.tool_reason(action) if action == "display" else None
        reason = reason or open_tool(self.app, action, *target)
        if reason is not None:
            self.notify(f"Cannot open the {action} of '{target[1].name}': {reason}.")

    def action_console(self) -> None:
        self._open_tool("console")

    def action_display(self) -> None:
        self._open_tool("display")

    def action_agent(self) -> None:
        self._open_tool("agent")

    def action_throttle(self) -> None:
        self._open_tool("throttle")

    def action_config_editor(self) -> None:
        self._open_tool("config_editor")

    def action_xml_editor(self) -> None:
        self._open_tool("xml_editor")
