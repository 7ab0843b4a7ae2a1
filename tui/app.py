"""The application: builds one Host per URI and shows the guest list."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from textual.app import App

from backend import uri as host_uri
from backend.host import RETRY_DELAYS, Host
from backend.model import HostChange
from screens.guests import GuestsScreen
from tui import messages


class KvmtuiApp(App[None]):
    """Hosts report changes from their own threads; the app forwards them to every screen."""

    TITLE = "kvmtui"
    CSS_PATH = "app.tcss"

    def __init__(self, hosts: Sequence[Host]) -> None:
        super().__init__()
        self.hosts = tuple(hosts)
        for host in self.hosts:
            host.set_listener(self._listener)

    def _listener(self, change: HostChange) -> None:
        """Called on a backend thread: only post (thread-safe), never touch widgets."""
        self.post_message(messages.from_change(change))

    def on_mount(self) -> None:
        # Pushed, not returned from get_default_screen(): Textual loads a screen's
        # CSS_PATH only for pushed screens and modes.
        self.push_screen(GuestsScreen(self.hosts))
        for host in self.hosts:
            host.start()

    def on_unmount(self) -> None:
        for host in self.hosts:
            host.set_listener(None)
        for host in self.hosts:
            host.stop()

    def _forward(self, message: messages.HostMessage) -> None:
        for screen in self.screen_stack:
            screen.post_message(messages.copy_message(message))

    def on_host_status_changed(self, message: messages.HostStatusChanged) -> None:
        self._forward(message)

    def on_guests_loaded(self, message: messages.GuestsLoaded) -> None:
        self._forward(message)

    def on_guest_updated(self, message: messages.GuestUpdated) -> None:
        self._forward(message)

    def on_guest_removed(self, message: messages.GuestRemoved) -> None:
        self._forward(message)


def make_app(
    uris: Sequence[str | None],
    *,
    readonly: bool = False,
    clock: Callable[[], float] = time.time,
    retry_delays: Sequence[float] | None = None,
) -> KvmtuiApp:
    """The one way to build the app, for the console script and the tests.

    Each entry is a URI, ``NAME=URI`` to give the host its own label, or None for
    libvirt's default. Labels are made unique so every row names its host.
    """
    split = [host_uri.split_label(u) if u is not None else (None, None) for u in uris]
    labels = host_uri.unique_labels([label or host_uri.label_for(u) for label, u in split])
    hosts = [
        Host(
            u,
            readonly=readonly,
            label=label,
            clock=clock,
            retry_delays=retry_delays if retry_delays is not None else RETRY_DELAYS,
        )
        for (_, u), label in zip(split, labels, strict=True)
    ]
    return KvmtuiApp(hosts)
