"""Every screen opened and closed 50 times leaves nothing behind.

After each kind of screen has been opened and closed 50 times (after a short warm-up,
which fills Textual's bounded caches), no instance of it survives a garbage collection
(weak references), and Python's traced memory grew less than 1 MiB. A new screen joins
by one line in ``KINDS``: its name, the keys that reach the screen it opens from (once),
the keys that open it, and the keys that close it.

The screens that work on libvirt's test:/// driver run there; the serial console needs a
real guest (``test_console_leaves_one_session``): leaving it with Ctrl+] keeps its session
on purpose, so the one session is counted once, not 50 times.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libvirt
import pytest
from textual.pilot import Pilot
from textual.screen import Screen

from conftest import node_uri
from kvmtui.screens.agent import AgentScreen
from kvmtui.screens.balloon import BalloonPeriodScreen
from kvmtui.screens.clone_form import CloneFormScreen
from kvmtui.screens.config_editor import ConfigEditorScreen
from kvmtui.screens.confirm import ConfirmScreen, TypeToConfirmScreen
from kvmtui.screens.console import ConsoleScreen
from kvmtui.screens.delay import DelayScreen
from kvmtui.screens.details import DetailsScreen
from kvmtui.screens.guests import GuestsScreen
from kvmtui.screens.help import HelpScreen
from kvmtui.screens.host import HostScreen
from kvmtui.screens.hosts import HostsScreen
from kvmtui.screens.jobs import JobsScreen
from kvmtui.screens.ksm import KsmScreen
from kvmtui.screens.ksm_thresholds import ThresholdsScreen
from kvmtui.screens.snapshot_forms import SnapshotFormScreen
from kvmtui.screens.snapshots import SnapshotsScreen
from kvmtui.screens.storage import StorageScreen
from kvmtui.screens.storage_volume import VolumeFormScreen
from kvmtui.screens.throttle import ThrottleScreen
from kvmtui.screens.xml_editor import XmlEditorScreen
from kvmtui.tui.app import KvmtuiApp, make_app
from kvmtui.tui.widgets.terminal import LEAVE_KEY
from tests.pilot import loaded, run_async, select, wait_for

DATA = Path(__file__).parents[1] / "data"
OPENS = 50
WARM_UP = 3
MAX_GROWTH = 1024 * 1024  # bytes of traced memory per screen kind
WORKERS_S = 30.0  # a closed screen's thread workers end within this
RELEASE_S = 2.0


Ref = weakref.ref[Screen[Any]]


@dataclass(frozen=True)
class Kind:
    """One kind of screen and how the admin opens and closes it."""

    name: str
    screen: type[Screen[Any]]
    open: tuple[str, ...]
    close: tuple[str, ...] = ("escape",)
    parent: tuple[str, ...] = ()  # keys pressed once to reach the screen it opens from
    node: str = "node.xml"
    guest: str = "web-frontend-1"


KINDS = [
    Kind("details", DetailsScreen, ("enter",)),
    Kind("agent", AgentScreen, ("g",)),
    Kind("throttle", ThrottleScreen, ("t",), node="throttle_node.xml", guest="db-primary"),
    Kind("ksm", KsmScreen, ("K",)),
    Kind("ksm thresholds", ThresholdsScreen, ("t",), parent=("K",)),
    Kind("storage", StorageScreen, ("S",), node="storage-node.xml", guest="app-1"),
    Kind("volume form", VolumeFormScreen, ("c",), ("escape",), ("S",), "storage-node.xml", "app-1"),
    Kind("host", HostScreen, ("H",)),
    Kind("help", HelpScreen, ("question_mark",)),
    Kind("jobs", JobsScreen, ("J",)),
    Kind("hosts", HostsScreen, ("ctrl+o",)),
    Kind("snapshots", SnapshotsScreen, ("z",), node="snapshot-node.xml", guest="web"),
    Kind("snapshot form", SnapshotFormScreen, ("n",), ("escape",), ("z",), "snapshot-node.xml",
         "web"),
    Kind("xml editor", XmlEditorScreen, ("E",)),
    Kind("delay question", DelayScreen, ("d",)),
    Kind("balloon question", BalloonPeriodScreen, ("b",), parent=("enter",),
         node="balloon_node.xml", guest="silent"),
    Kind("force-off question", ConfirmScreen, ("F",), close=("n",)),
    Kind("reset question", ConfirmScreen, ("R",)),
    Kind("undefine question", TypeToConfirmScreen, ("U",)),
    Kind("clone form", CloneFormScreen, ("C",), node="storage-node.xml", guest="build"),
    Kind("config editor", ConfigEditorScreen, ("e",), node="throttle_node.xml", guest="db-primary"),
]


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def open_and_close(
    pilot: Pilot[None], kind_screen: type[Screen[Any]], opens: tuple[str, ...],
    closes: tuple[str, ...],
) -> Ref:
    """Open the screen with the keys, wait until it is shown, close it; a weak reference."""
    app = pilot.app
    base = app.screen
    await pilot.press(*opens)
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, kind_screen) and app.screen.is_mounted,
        f"{kind_screen.__name__} to open",
    )
    ref = weakref.ref(app.screen)
    await pilot.press(*closes)
    await wait_for(pilot, lambda: app.screen is base, f"{kind_screen.__name__} to close")
    return ref


async def check_leaves_nothing(
    pilot: Pilot[None], cycle: Callable[[], Awaitable[Ref]], what: str, kept: int = 0
) -> None:
    """Warm up, then 50 cycles: none of the screens opened survives (but ``kept``
    instances kept by design, each counted once), and memory is flat."""
    app = pilot.app
    for _ in range(WARM_UP):
        await cycle()
    await app.workers.wait_for_complete()
    tracemalloc.start()
    try:
        before = traced()
        refs = [await cycle() for _ in range(OPENS)]
        await settle(pilot)

        def alive() -> int:
            gc.collect()
            return len({id(ref()) for ref in refs if ref() is not None})

        # A pool thread drops its finished job a moment after the worker says so.
        deadline = time.monotonic() + RELEASE_S
        while alive() > kept and time.monotonic() < deadline:
            await pilot.pause(0.05)
        grown = traced() - before
    finally:
        tracemalloc.stop()
    assert alive() <= kept, f"{alive()} {what} screens of {OPENS} still alive after closing"
    assert grown < MAX_GROWTH, f"{what}: traced memory grew {grown / 1024:.0f} KiB"


async def settle(pilot: Pilot[None]) -> None:
    """Let the closed screens' workers end (a thread worker holds its screen until then)."""
    app = pilot.app
    deadline = time.monotonic() + WORKERS_S
    while any(not w.is_finished for w in app.workers) and time.monotonic() < deadline:
        await pilot.pause(0.05)
    await pilot.pause()


def build(uri: str) -> KvmtuiApp:
    app = make_app([uri], retry_delays=(3600.0,))
    app.animation_level = "none"
    return app


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
@run_async
async def test_screen_leaves_nothing_behind(kind: Kind) -> None:
    app = build(node_uri(DATA / kind.node))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        await select(pilot, screen.table, kind.guest)
        if kind.parent:
            await pilot.press(*kind.parent)
            await wait_for(pilot, lambda: not isinstance(app.screen, GuestsScreen), "parent")
            await app.workers.wait_for_complete()

        async def cycle() -> Ref:
            return await open_and_close(pilot, kind.screen, kind.open, kind.close)

        await check_leaves_nothing(pilot, cycle, kind.name)


@pytest.mark.daemon
@run_async
async def test_console_leaves_one_session(daemon_uri: str, guest_factory: object) -> None:
    """The console on a real guest: c opens it, Ctrl+] leaves; the session kept by
    design is one, whatever the number of visits."""
    dom: libvirt.virDomain = guest_factory()  # type: ignore[operator]
    app = build(daemon_uri)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        await wait_for(pilot, lambda: any(
            g.name == dom.name() for g in screen.table.all_guests()), "the guest's row")
        await select(pilot, screen.table, dom.name())

        async def cycle() -> Ref:
            return await open_and_close(pilot, ConsoleScreen, ("c",), (LEAVE_KEY,))

        await check_leaves_nothing(pilot, cycle, "console", kept=1)
