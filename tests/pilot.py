"""Driving the real app with Textual's Pilot: run, wait on conditions, pick a guest."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.widgets._footer import FooterKey

from kvmtui.backend.history import DEFAULT_INTERVAL
from kvmtui.backend.host import Host
from kvmtui.backend.model import ConnectionState, Guest, GuestState
from kvmtui.screens.config_editor import ConfigEditorScreen
from kvmtui.screens.config_forms import ValueScreen
from kvmtui.screens.guests import GuestsScreen
from kvmtui.screens.hosts import HostsScreen
from kvmtui.screens.new_guest import NewGuestScreen
from kvmtui.screens.refusal import ERROR_ID
from kvmtui.screens.storage import StorageScreen
from kvmtui.screens.throttle import DISK_TAB, ThrottleScreen
from kvmtui.screens.xml_editor import XmlEditorScreen
from kvmtui.tui.app import KvmtuiApp, make_app
from kvmtui.tui.polling import PollerFactory
from kvmtui.tui.widgets.guest_table import GuestTable

S = TypeVar("S", bound=Screen[Any])

DATA = Path(__file__).parent / "data"
#: libvirt's test:/// driver on a node file of 4 CPUs, 16 GiB, two pools (images, bulk)
#: and four guests: app-1 and app-2 running, build and archive shut off.
STORAGE_NODE_URI = f"test://{DATA / 'storage-node.xml'}"


def stable_uri(node_file: str) -> str:
    """A test:/// URI for NODE_FILE in tests/data whose length does not depend on where
    the checkout lives: a link /tmp/kvmtui-data-HASH to this checkout's data folder. For
    screens that print the URI (the wizard's virt-install line), whose wrapping would
    otherwise change with the clone's path."""
    import hashlib
    import os
    import tempfile

    digest = hashlib.sha1(str(DATA.resolve()).encode()).hexdigest()[:10]
    link = Path(tempfile.gettempdir()) / f"kvmtui-data-{digest}"
    if not link.is_symlink() or link.resolve() != DATA.resolve():
        spare = link.with_name(f"{link.name}.{os.getpid()}")
        spare.unlink(missing_ok=True)
        spare.symlink_to(DATA.resolve(), target_is_directory=True)
        spare.replace(link)
    return f"test://{link / node_file}"


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


class Listed(NamedTuple):
    app: KvmtuiApp
    pilot: Pilot[None]
    screen: GuestsScreen


@contextlib.asynccontextmanager
async def guest_list(
    *uris: str | None, size: tuple[int, int] = (100, 30), **options: Any
) -> AsyncIterator[Listed]:
    """The app built as :func:`build_app` does (``options`` are its), run at ``size``
    until every host's guests are listed: the app, its pilot and the guest list."""
    app = build_app(*uris, **options)
    async with app.run_test(size=size) as pilot:
        yield Listed(app, pilot, await loaded(pilot))


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on a fresh event loop (no asyncio plugin in the test deps)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


async def wait_for(
    pilot: Pilot[None],
    ready: Callable[[], object],
    what: str | Callable[[], str],
    timeout: float = 10.0,
) -> float:
    """Let the app run until ``ready()``; return the seconds it took. Fails at the deadline,
    naming ``what`` (called then if it is a function: what the screen showed instead)."""
    start = time.monotonic()
    while not ready():
        if time.monotonic() - start > timeout:
            said = what() if callable(what) else what
            raise AssertionError(
                f"timed out after {timeout} s waiting for {said}; {app_state(pilot.app)}"
            )
        await pilot.pause(0.02)
    return time.monotonic() - start


def app_state(app: App[object]) -> str:
    """What a failed wait saw: the screen on top and the notifications still shown."""
    said = [f"{n.severity}: {n.message}" for n in app._notifications]
    return f"screen {type(app.screen).__name__}, notifications {said or 'none'}"


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
    # and lists its guests before it has read every figure (test:/// lacks vCPUs and
    # memory in the bulk call), so wait until the table holds every guest each
    # connected host knows, as the host knows it once its figures are in.
    await wait_for(
        pilot,
        lambda: all(
            not h.figures_pending and set(screen.table.guests_of(h.label)) == set(h.guests())
            for h in app.hosts
            if h.status.state is ConnectionState.CONNECTED
        ),
        "the guest lists in the table",
        timeout,
    )
    if rows is not None:
        await wait_for(pilot, lambda: screen.table.row_count == rows, f"{rows} rows", timeout)
    return screen


async def open_storage(pilot: Pilot[None], pool: str = "images") -> StorageScreen:
    """The storage screen of the app's first host with ``pool`` chosen and its volumes in."""
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    host = app.hosts[0]
    await wait_for(pilot, lambda: host.status.state is ConnectionState.CONNECTED, "the node", 15)
    screen = StorageScreen(app.hosts, app.jobs)
    await app.push_screen(screen)
    await wait_for(pilot, lambda: screen.loads == 1, "the pools", 15)
    table = screen.pool_table
    table.move_cursor(row=table.get_row_index(f"{host.label}/{pool}"), animate=False)
    await wait_for(
        pilot,
        lambda: screen.selected_pool is not None and screen.selected_pool.name == pool,
        f"pool {pool}",
    )
    selected = screen.selected_pool
    assert selected is not None
    await wait_for(
        pilot,
        lambda: set(screen.volume_table.volumes) == {v.name for v in selected.volumes},
        f"the volumes of {pool}",
    )
    # The Path column is sized to its cells when the table is next idle; until then it
    # keeps the width of the pool shown before (bulk's 21-cell path), which a loaded
    # machine once caught in a shot.
    longest = max(len(v.path) for v in selected.volumes)
    path = next(c for c in screen.volume_table.columns.values() if c.key.value == "Path")
    await wait_for(pilot, lambda: path.content_width >= longest, "the Path column's width")
    await pilot.pause()
    return screen


async def connected_host(pilot: Pilot[None], uuid: str) -> Host:
    """The app's first host once it is connected and knows the guest ``uuid``."""
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    host = app.hosts[0]
    await wait_for(pilot, lambda: host.connected and host.guest(uuid), "the host")
    return host


async def open_throttle(pilot: Pilot[None], uuid: str, tab: str = DISK_TAB) -> ThrottleScreen:
    """The throttle editor of ``uuid`` on ``tab``, its limits read (no rate sampling)."""
    host = await connected_host(pilot, uuid)
    screen = ThrottleScreen(host, uuid, rate_interval=None, initial_tab=tab)
    await pilot.app.push_screen(screen)
    await wait_for(pilot, lambda: screen.disks is not None, "the limits")
    return screen


async def open_hosts(pilot: Pilot[None]) -> HostsScreen:
    """The guest list loaded, then ctrl+o: the hosts screen on top."""
    await loaded(pilot)
    await pilot.press("ctrl+o")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, HostsScreen), "hosts screen")
    screen = pilot.app.screen
    assert isinstance(screen, HostsScreen)
    return screen


def footer_settled(screen: Screen[Any]) -> bool:
    """The screen's footer (if it has one) shows the keys its bindings say now, each
    dimmed or not as ``check_action`` says: Textual composes the footer's keys after a
    refresh, so they lag a binding change by a frame or more on a loaded machine."""
    if not screen.query("Footer"):  # by CSS type: ours and Textual's
        return True
    wanted: dict[str, tuple[str, bool]] = {}
    for _node, binding, enabled, _tooltip in screen.active_bindings.values():
        if binding.show:
            wanted.setdefault(binding.action, (binding.key, enabled))
    shown = {
        (key.key, not key.has_class("-disabled"))
        for key in screen.query(FooterKey)
        if not key.has_class("-command-palette")  # always there, not one of the bindings
    }
    return set(wanted.values()) == shown


def no_blink(pilot: Pilot[None]) -> None:
    """Inputs on the current screen show a steady cursor (a still picture for snapshots)."""
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False


async def ticked(pilot: Pilot[None], rows: int | None = None) -> GuestsScreen:
    """:func:`loaded`, then the first statistics tick of every connected host is in the
    table and no cursor blinks: what a snapshot of the list waits for."""
    screen = await loaded(pilot, rows)
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    connected = [h.label for h in app.hosts if h.status.state is ConnectionState.CONNECTED]
    await wait_for(
        pilot,
        lambda: all(screen.table.stats_tick(label) is not None for label in connected),
        "the first statistics tick of every connected host",
    )
    no_blink(pilot)
    return screen


async def display_known(pilot: Pilot[None]) -> None:
    """Wait until the selected running guest's display lookup answered: the help and
    the footer show `v` greyed out or not by it (nothing to wait for when read-only)."""
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    screen = screen_of(app)
    guest = screen.table.selected_guest
    assert guest is not None
    screen.refresh_bindings()
    await wait_for(
        pilot,
        lambda: guest.key in getattr(screen, "displays", {}) or screen.readonly,
        "the display lookup",
    )


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


async def press_for(pilot: Pilot[None], key: str, kind: type[S]) -> S:
    """Press ``key``; the screen of ``kind`` it opens, once it is on top."""
    app = pilot.app
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, kind), kind.__name__)
    opened = app.screen
    assert isinstance(opened, kind)
    return opened


async def press_back(pilot: Pilot[None], key: str, screen: Screen[Any]) -> None:
    """Press ``key`` (escape, n) and wait until ``screen`` is on top again."""
    await pilot.press(key)
    await wait_for(pilot, lambda: pilot.app.screen is screen, f"back to {type(screen).__name__}")


def row_state(table: GuestTable, name: str, host: str | None = None) -> GuestState | None:
    for guest in table.all_guests():
        if guest.name == name and (host is None or guest.host == host):
            return guest.state
    return None


async def open_guest_screen(pilot: Pilot[None], name: str, key: str, kind: type[S]) -> S:
    """``key`` on the guest called ``name`` in the list: the screen it opens."""
    screen = await loaded(pilot)
    await select(pilot, screen.table, name)
    return await press_for(pilot, key, kind)


async def open_xml_editor(pilot: Pilot[None], name: str) -> XmlEditorScreen:
    """E on the guest called ``name``: its XML editor, once the definition is in."""
    editor = await open_guest_screen(pilot, name, "E", XmlEditorScreen)
    await wait_for(pilot, lambda: editor.definition is not None, "the definition")
    editor.text_area.cursor_blink = False
    return editor


async def open_wizard(pilot: Pilot[None]) -> NewGuestScreen:
    """``n`` on the guest list: the new-guest wizard once it has read the host."""
    await loaded(pilot)
    await pilot.press("n")
    await wait_for(
        pilot,
        lambda: isinstance(pilot.app.screen, NewGuestScreen) and pilot.app.screen.facts is not None,
        "the wizard with the host's facts",
    )
    screen = pilot.app.screen
    assert isinstance(screen, NewGuestScreen)
    await pilot.pause()
    return screen


async def wizard_fill(pilot: Pilot[None], screen: NewGuestScreen, **values: str) -> None:
    """Set the wizard's fields by id (``source_ref="pool/vol"`` sets ``#source-ref``; a
    TextArea gets the text), as typing or choosing would (each change is checked as it is typed)."""
    from textual.widgets import Input, Select, TextArea

    for key, value in values.items():
        widget = screen.query_one(f"#{key.replace('_', '-')}")
        if isinstance(widget, TextArea):
            widget.text = value
            continue
        assert isinstance(widget, Input | Select), widget
        widget.value = value
    await pilot.pause()  # the Changed messages: each value is checked as typed


def recorded_migration(host: Host) -> Screen[None]:
    """The progress view of a migration of web-frontend-1 fed the jobStats() readings
    recorded from a real live migration (tests/data/migration-jobstats.json); no job
    behind it, no timer: every figure is fixed."""
    import json

    from kvmtui.backend.migrate import Migration
    from kvmtui.backend.migrate_options import MigrationOptions
    from kvmtui.screens.migrate_progress import MigrationScreen

    migration = Migration(host, "uuid", "web-frontend-1", "kvm2", MigrationOptions(postcopy=True))
    for stats in json.loads((DATA / "migration-jobstats.json").read_text()):
        migration.log.add(stats)
    return MigrationScreen(migration, None, live=False)


async def open_config_editor(pilot: Pilot[None], name: str) -> ConfigEditorScreen:
    """e on the guest called ``name``: its configuration editor, once the guest is read."""
    editor = await open_guest_screen(pilot, name, "e", ConfigEditorScreen)
    await wait_for(pilot, lambda: editor.config is not None, "the configuration")
    return editor


async def answer(pilot: Pilot[None], text: str) -> None:
    """Type ``text`` into the configuration editor's open question and press enter."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ValueScreen), "the question")
    pilot.app.screen.query_one(Input).value = ""
    await pilot.press(*text, "enter")
    await pilot.pause()


async def refused_answer(pilot: Pilot[None], text: str) -> str:
    """:func:`answer` for an answer the question refuses: the reason it shows, once the
    question has been left (escape) with the typed text still in it."""
    await answer(pilot, text)
    question = pilot.app.screen
    assert isinstance(question, ValueScreen), f"the question closed on {text!r}"
    line = question.query_one(f"#{ERROR_ID}", Static)
    await wait_for(pilot, lambda: line.display, "the refusal in the question")
    assert question.query_one(Input).value == text, "the typed answer was kept"
    reason = str(line.render())
    await pilot.press("escape")
    await wait_for(pilot, lambda: pilot.app.screen is not question, "the question to close")
    return reason
