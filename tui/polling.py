"""The app's statistics pollers: one per host, their controls, and their results as messages.

Each host gets a :class:`backend.poller.StatsPoller` (or whatever the factory given to
``make_app`` builds: the snapshot tests replay recorded ticks). A poller starts when
its host first connects (so its first tick is not a failure), polls at once after a
reconnect, and stops when the app exits. Results arrive on the poller's thread and are
only posted as messages. The guest list tells the pollers which guests are on screen
(:meth:`Pollers.show`), a details screen pins its guest: those are read every tick,
the rest every few ticks.

Once every host has given its first complete reading, the objects alive then (modules,
widgets, the guest rows, the first figures) are moved out of the cyclic garbage
collector's reach with :func:`gc.freeze`: they live as long as the app, and without
it each full collection walks them all (at 10,000 guests that made one tick in ten or
so take 100-200 ms longer). Reference counting still frees them; only cycles among
them would outlive the app's need, and these are long-lived by nature.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Protocol

from textual.message import Message
from textual.message_pump import MessagePump

from kvmtui.backend.history import HostHistory
from kvmtui.backend.host import Host
from kvmtui.backend.poller import (
    MIN_INTERVAL,
    ListenerGone,
    ShownGuests,
    StatsFailed,
    StatsListener,
    StatsPoller,
    StatsResult,
    StatsUpdated,
)
from kvmtui.tui import messages


class Poller(Protocol):
    """What the app needs of a poller (StatsPoller has all of it)."""

    history: HostHistory

    def start(self) -> None: ...
    def stop(self, timeout: float = 5.0) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def poll_now(self) -> None: ...
    def set_interval(self, seconds: float) -> None: ...


PollerFactory = Callable[[Host, StatsListener, float], Poller]


def live_poller(host: Host, listener: StatsListener, interval: float) -> Poller:
    return StatsPoller(host, listener, interval=interval)


def parse_delay(text: str) -> float:
    """A refresh interval typed by the admin, in seconds; ValueError with a sentence."""
    try:
        seconds = float(text.strip())
    except ValueError:
        raise ValueError(
            f"'{text.strip()}' is not a number of seconds; type e.g. 3 or 0.5."
        ) from None
    if not math.isfinite(seconds) or seconds < MIN_INTERVAL:
        raise ValueError(f"The delay must be at least {MIN_INTERVAL} seconds, not {text.strip()}.")
    return seconds


class Pollers:
    """One poller per host label; pause, resume and the interval apply to all of them."""

    def __init__(
        self, hosts: Iterable[Host], factory: PollerFactory, interval: float, target: MessagePump
    ) -> None:
        self.interval = interval
        self.paused = False
        self._target = target
        self._factory = factory
        self._pollers = {h.label: factory(h, self._listener, interval) for h in hosts}
        self._started: set[str] = set()
        self._last: dict[str, StatsUpdated] = {}
        self._unread = set(self._pollers)  # hosts without a complete reading yet
        #: The event loop the results are posted into (known once a poller starts).
        self._loop: asyncio.AbstractEventLoop | None = None

    def _post(self, message: Message) -> None:
        """Post from a poller's thread; once the app's event loop has closed (the app
        ended without stopping its pollers: a crash while it shut down) ListenerGone
        stops the poller instead of an error every tick."""
        loop = self._loop
        if loop is not None and loop.is_closed():
            raise ListenerGone
        try:
            self._target.post_message(message)
        except RuntimeError:
            if loop is not None and loop.is_closed():  # closed since the look above
                raise ListenerGone from None
            raise

    def _listener(self, result: StatsResult) -> None:
        """Called on a poller's thread: only post."""
        if isinstance(result, StatsFailed):
            self._post(messages.StatsError(result))
        else:
            self._last[result.host] = result
            if self._unread and result.complete:
                self._unread.discard(result.host)
                if not self._unread:
                    gc.freeze()  # the start-up heap: see the module's docstring
            history = self._pollers[result.host].history if result.host in self._pollers else None
            self._post(messages.StatsTick(result, history))

    def history(self, host: str) -> HostHistory | None:
        poller = self._pollers.get(host)
        return poller.history if poller is not None else None

    def last(self, host: str) -> StatsUpdated | None:
        """The latest tick of ``host`` (None before the first)."""
        return self._last.get(host)

    @property
    def labels(self) -> list[str]:
        return list(self._pollers)

    def _shown(self, host: str) -> ShownGuests | None:
        # Replayed pollers (tests) have no notion of shown guests.
        shown = getattr(self._pollers.get(host), "visible", None)
        return shown if isinstance(shown, ShownGuests) else None

    def show(self, by_host: Mapping[str, Collection[str]]) -> None:
        """The guests on screen now, UUIDs per host label: read every tick, the others
        every few ticks. A host missing from ``by_host`` has none on screen."""
        for label in self._pollers:
            shown = self._shown(label)
            if shown is not None:
                shown.show(by_host.get(label, ()))

    def pin(self, host: str, uuid: str) -> None:
        """Read this guest every tick whatever the list shows (a details screen)."""
        shown = self._shown(host)
        if shown is not None:
            shown.pin(uuid)

    def unpin(self, host: str, uuid: str) -> None:
        shown = self._shown(host)
        if shown is not None:
            shown.unpin(uuid)

    def read_all_now(self) -> None:
        """Read every guest of every host at once (unless paused), then go on with the
        shown ones and slices: after a sort by a figure, the order is right at once
        instead of at the end of a round of slices."""
        for label, poller in self._pollers.items():
            shown = self._shown(label)
            if shown is not None and label in self._started and not self.paused:
                shown.read_all_once()
                poller.poll_now()

    def host_connected(self, host: str) -> None:
        """Start the host's poller on its first connection; poll at once after a reconnect."""
        poller = self._pollers.get(host)
        if poller is None:
            return
        if host not in self._started:
            with contextlib.suppress(RuntimeError):  # called from the app's event loop
                self._loop = asyncio.get_running_loop()
            self._started.add(host)
            if self.paused:
                poller.pause()
            poller.start()
        elif not self.paused:
            poller.poll_now()

    def add(self, host: Host) -> None:
        """A host opened during the session: its poller starts once it is listed."""
        if host.label not in self._pollers:
            self._pollers[host.label] = self._factory(host, self._listener, self.interval)

    def remove(self, host: str) -> Poller | None:
        """A host closed during the session: its poller, for the caller to stop off the
        UI thread (stopping joins its thread); None if it never started."""
        poller = self._pollers.pop(host, None)
        self._last.pop(host, None)
        self._unread.discard(host)
        if host in self._started:
            self._started.discard(host)
            return poller
        return None

    def pause(self) -> None:
        self.paused = True
        for poller in self._pollers.values():
            poller.pause()

    def resume(self) -> None:
        self.paused = False
        for poller in self._pollers.values():
            poller.resume()

    def set_interval(self, seconds: float) -> None:
        for poller in self._pollers.values():
            poller.set_interval(seconds)
        self.interval = seconds

    def stop(self) -> None:
        for label in self._started:
            self._pollers[label].stop()
