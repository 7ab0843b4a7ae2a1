"""The app's vocabulary: what hosts report and what actions answer, as Textual messages.

Host changes arrive from backend threads; :func:`from_change` wraps each one so it can
be posted (``post_message`` is thread-safe). None of these bubble: the app forwards
host messages to every screen itself, and a bubbling copy would come back to it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.dom import DOMNode
from textual.message import Message

from kvmtui.backend import model
from kvmtui.backend.history import HostHistory
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobView
from kvmtui.backend.model import Guest, HostStatus
from kvmtui.backend.poller import StatsFailed, StatsUpdated

if TYPE_CHECKING:  # the XML reader loads with the details screen, not at start-up
    from kvmtui.backend.domain.layout import DomainLayout
    from kvmtui.backend.xmledit import Definition, Prepared


@dataclass
class HostStatusChanged(Message, bubble=False):
    """A host connected, disconnected or is retrying."""

    status: HostStatus


@dataclass
class GuestsLoaded(Message, bubble=False):
    """Every guest of one host: replaces all of that host's rows."""

    host: str
    guests: tuple[Guest, ...]


@dataclass
class GuestUpdated(Message, bubble=False):
    """One guest changed (state, memory, autostart...)."""

    guest: Guest

    def can_replace(self, message: Message) -> bool:
        # A burst of events for one guest: only the newest reading matters.
        return isinstance(message, GuestUpdated) and message.guest.key == self.guest.key


@dataclass
class GuestRemoved(Message, bubble=False):
    """A guest was undefined (or a transient guest stopped)."""

    host: str
    uuid: str

    @property
    def key(self) -> str:
        return f"{self.host}/{self.uuid}"


HostMessage = HostStatusChanged | GuestsLoaded | GuestUpdated | GuestRemoved


@dataclass
class HostOpened(Message, bubble=False):
    """A host joined the session (the hosts screen); its changes follow."""

    host: Host


@dataclass
class HostClosed(Message, bubble=False):
    """A host left the session: its rows and status line go."""

    label: str


@dataclass
class ListShown(Message, bubble=False):
    """The guest list drew a host's list (posted to the app after the refresh): its
    statistics may start and its missing figures be read without delaying the frame."""

    host: str


@dataclass
class ActionSucceeded(Message, bubble=False):
    """A lifecycle action finished; ``text`` is a short line for the admin."""

    text: str


@dataclass
class ActionFailed(Message, bubble=False):
    """A lifecycle action failed; ``text`` is the backend's sentence."""

    text: str


@dataclass
class SeedNews(Message, bubble=False):
    """The seed watcher (``backend.seed_watch``) detached a seed after a guest's first
    boot, or could not (``failed``); ``text`` is its sentence."""

    text: str
    failed: bool = False


@dataclass
class WorkFailed(Message, bubble=False):
    """A worker ended on an exception (``kvmtui.tui.workers``); ``text`` is its sentence:
    a known failure's own, or "kvmtui hit an internal error while ..." with the traceback
    in the log. Posted to the app, which shows it and hands a copy to ``runner``, the
    screen or widget that ran the worker, so it can leave a busy state."""

    runner: DOMNode
    text: str
    internal: bool


@dataclass
class GuestLayoutLoaded(Message, bubble=False):
    """A guest's domain XML was read (``layout``), or could not be (``error``)."""

    uuid: str
    layout: DomainLayout | None
    error: str | None


def from_change(change: model.HostChange) -> HostMessage:
    """Wrap a backend change (from any thread) as the message the UI handles."""
    match change:
        case model.StatusChanged(status=status):
            return HostStatusChanged(status)
        case model.GuestsLoaded(host=host, guests=guests):
            return GuestsLoaded(host, guests)
        case model.GuestUpdated(guest=guest):
            return GuestUpdated(guest)
        case model.GuestRemoved(host=host, uuid=uuid):
            return GuestRemoved(host, uuid)
    raise TypeError(f"unknown host change: {change!r}")


def copy_message(message: AppMessage) -> AppMessage:
    """A fresh message with the same values: one message instance goes to one pump."""
    return dataclasses.replace(message)


# -- statistics (from the pollers' threads) ---------------------------------------------


@dataclass
class StatsTick(Message, bubble=False):
    """One tick of one host's statistics; ``history`` is that host's ring buffers."""

    update: StatsUpdated
    history: HostHistory | None = None

    @property
    def host(self) -> str:
        return self.update.host

    def can_replace(self, message: Message) -> bool:
        # A newer tick of the same host supersedes one not handled yet: the history
        # keeps every tick, so nothing is lost by drawing only the newest.
        return isinstance(message, StatsTick) and message.host == self.host


@dataclass
class StatsError(Message, bubble=False):
    """A tick of one host failed; ``failure.error`` is a sentence for the admin."""

    failure: StatsFailed

    @property
    def host(self) -> str:
        return self.failure.host

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StatsError) and message.host == self.host


@dataclass
class StatsControlChanged(Message, bubble=False):
    """Polling was paused, resumed or its interval changed (for status lines)."""

    paused: bool
    interval: float


# -- jobs (from the jobs' threads) -----------------------------------------------------


@dataclass
class JobChanged(Message, bubble=False):
    """A job started, moved on or ended; ``view`` is how it stands now."""

    view: JobView

    def can_replace(self, message: Message) -> bool:
        # Each view is the whole state of its job: a newer one supersedes an older one.
        return isinstance(message, JobChanged) and message.view.id == self.view.id


#: What the app forwards to every screen.
AppMessage = (
    HostMessage
    | StatsTick
    | StatsError
    | StatsControlChanged
    | JobChanged
    | HostOpened
    | HostClosed
)


# -- the raw XML editor -----------------------------------------------------------------


@dataclass
class XmlLoaded(Message, bubble=False):
    """The guest's saved definition was read (``definition``), or could not be (``error``)."""

    definition: Definition | None
    error: str | None


@dataclass
class XmlPrepared(Message, bubble=False):
    """An edited definition passed kvmtui's checks; its diff is ready to confirm."""

    prepared: Prepared


@dataclass
class XmlRefused(Message, bubble=False):
    """An edited definition was refused (by kvmtui or libvirt); ``line`` is where, if known."""

    text: str
    line: int | None


@dataclass
class XmlSaved(Message, bubble=False):
    """libvirt validated and defined the edited definition."""

    name: str
