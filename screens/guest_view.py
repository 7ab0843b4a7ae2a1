"""The frame shared by the full screens over one guest (its serial console, its display):
a header line, a status line, the view itself, a hint line with the keys.

A subclass names its parts (``PART``: ``console`` gives ``#console-header``,
``#console-status`` and ``#console-hint``), says its hint, its header and first status,
and makes the view in :meth:`view_widget`.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static

from kvmtui.backend.host import Host


class GuestViewScreen(Screen[None]):
    """A guest's view with a header, a status line (a problem shown in warning colours)
    and a hint line."""

    DEFAULT_CSS = """
    GuestViewScreen { layout: vertical; }
    GuestViewScreen .view-header { height: 1; background: $primary; color: $text; }
    GuestViewScreen .view-status { height: 1; background: $boost; }
    GuestViewScreen .view-status.-problem { background: $warning 40%; }
    GuestViewScreen .view-hint { height: 1; background: $panel; color: $text-muted; }
    """
    #: The prefix of the parts' ids.
    PART: ClassVar[str] = "view"
    #: The keys, on the last line.
    HINT: ClassVar[str] = ""

    def __init__(self, host: Host, uuid: str, name: str | None = None) -> None:
        super().__init__()
        self.host = host
        self.uuid = uuid
        cached = host.guest(uuid)
        self.guest_name = name or (cached.name if cached else uuid)

    def compose(self) -> ComposeResult:
        yield Static(self._header_text(), id=f"{self.PART}-header", classes="view-header")
        yield Static(self.first_status(), id=f"{self.PART}-status", classes="view-status")
        yield self.view_widget()
        yield Static(self.HINT, id=f"{self.PART}-hint", classes="view-hint")

    def _header_text(self) -> str:
        raise NotImplementedError

    def first_status(self) -> str:
        raise NotImplementedError

    def view_widget(self) -> Widget:
        raise NotImplementedError

    def _refresh_header(self) -> None:
        self.query_one(f"#{self.PART}-header", Static).update(self._header_text())

    def set_status(self, text: str, *, problem: bool = False) -> None:
        status = self.query_one(f"#{self.PART}-status", Static)
        status.update(text)
        status.set_class(problem, "-problem")
