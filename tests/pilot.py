"""Driving the real app with Textual's Pilot: run, wait on conditions, pick a guest."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from textual.pilot import Pilot

from kvmtui.backend.history import DEFAULT_INTERVAL
from kvmtui.backend.model import ConnectionState, Guest, GuestState
from kvmtui.screens.guests import GuestsScreen
from kvmtui.tui.app import KvmtuiApp, make_app
from kvmtui.tui.polling import PollerFactory
from kvmtui.tui.widgets.guest_table import GuestTable

#: The clock of a built app, so times on screen never change: 2023-11-14 22:13:20 UTC.
FIXED_EPOCH = 1_700_000_000.0
#: A host that fails to connect is retried only after the test is over.
NO_RETRY = (3600.0,)


def fixed_clock() -> float:
    return FIXED_EPOCH


def build_app(
    *uris: str | None,
    readonly: bool = False,
    clock: Callable[[], float] = fixed_clock,
    retry_delays: Sequence[float] | None = NO_RETRY,
    delay: float = DEFAULT_INTERVAL,
    stats: bool | PollerFactory = True,
) -> KvmtuiApp:
    """The real app (``make_app``) as tests drive it: a fixed clock, no retries, no
    animation. ``retry_delays=None`` keeps the app's own back-off, ``clock=time.time``
    the real time."""
    app = make_app(
        list(uris),
        readonly=readonly,
        clock=clock,
        retry_delays=retry_delays,
        delay=delay,
        stats=stats,
    )
    app.animation_level = "none"
    return app


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on a fresh event loop (no asyncio plugin in the test deps)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


async def wait_for(
    pilot: Pilot[None], ready: Callable[[], object], what: str, timeout: float = 10.0
) -> float:
    """Let the app run until ``ready()``; return the seconds it took. Fails at the deadline."""
    start = time.monotonic()
    while not ready():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.02)
    return time.monotonic() - start


def screen_of(app: KvmtuiApp) -> GuestsScreen:
    return next(s for s in app.screen_stack if isinstance(s, GuestsScreen))


async def loaded(
    pilot: Pilot[None], rows: int | None = None, timeout: float = 10.0
) -> GuestsScreen:
    """The guest list once every host has answered (and, if given, shows ``rows`` rows)."""
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    await wait_for(
        pilot, lambda: any(isinstance(s, GuestsScreen) for s in app.screen_stack), "screen"
    )
    await wait_for(
        pilot,
        lambda: all(h.status.state is not ConnectionState.CONNECTING for h in app.hosts),
        "hosts to answer",
        timeout,
    )
    screen = screen_of(app)
    # A host says CONNECTED on its own thread before the UI has handled its guest list,
    # so wait until the table holds every guest each connected host knows.
    await wait_for(
        pilot,
        lambda: all(
            {g.key for g in screen.table.guests_of(h.label)} == {g.key for g in h.guests()}
            for h in app.hosts
            if h.status.state is ConnectionState.CONNECTED
        ),
        "the guest lists in the table",
        timeout,
    )
    if rows is not None:
        await wait_for(pilot, lambda: screen.table.row_count == rows, f"{rows} rows", timeout)
    return screen


async def select(
    pilot: Pilot[None], table: GuestTable, name: str, host: str | None = None
) -> Guest:
    """Put the cursor on the guest called ``name`` (on ``host`` if given)."""
    keys = [
        key
        for key in table.ordered_keys()
        if (g := table.guest(key)) is not None
        and g.name == name
        and (host is None or g.host == host)
    ]
    assert keys, f"no row for {name} on {host or 'any host'}"
    table.move_cursor(row=table.get_row_index(keys[0]))
    await pilot.pause()
    guest = table.selected_guest
    assert guest is not None and guest.name == name
    return guest


def row_state(table: GuestTable, name: str, host: str | None = None) -> GuestState | None:
    for guest in table.all_guests():
        if guest.name == name and (host is None or guest.host == host):
            return guest.state
    return None
