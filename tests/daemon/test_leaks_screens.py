"""Every screen opened and closed 50 times leaves nothing behind.

Each kind of screen is opened and closed 50 times with its keys; then no instance of it
survives a garbage collection (weak references) and Python's traced memory over the last
opens grew less than 1 MiB. A new screen joins by one line in ``KINDS``: its name,
the keys that open it and close it, the keys that reach the screen it opens from (pressed
once), and what must be ready before it opens (``ready``; ``prepare`` makes it so: a row
chosen, a text edited, a change pending, a job held running). A dialog that another
dialog's answer opens (the seed's volume question after "detach?", KSM's "set?" after the
tune form) is reached by ``open`` then ``then``, and both screens must go; a paste (what a
terminal sends) goes in by ``paste``. A screen no key opens without a running job (the
migration's progress view, fed recorded jobStats) is pushed by ``push``; a node
``a.xml+b.xml`` runs one app on two test:/// hosts (the migration dialog needs another
host). A costly screen may open fewer times (``opens``), still with the same traced opens.

The migration's speed and cancel questions and the jobs screen's stop question need a
running, cancellable job: a real migration job, held in its pre-flight by a registry
listener (``Hold``) until the kind is done, then cancelled (test:/// cannot migrate,
so nothing was sent). Every dialog is closed by escape or n, so nothing changes; KSM's
questions on the real host are answered n.

The new-guest wizard's opens cost about 0.35 s each, all in Textual composing its seven
pages (about 60 widgets); the osinfo database is read once per process (osinfo.load),
and the host's facts are read on a worker that the close cancels.

Speed (the module ran 12-15 minutes): the kinds of one node file share one app, keys are
sent as events and each open and close waits on its exact condition (no idle waits), and
tracemalloc, which slows Python about fivefold, traces only the last opens:
``TRACED_WARM_UP`` opens (bounded caches refilled from traced memory, so not counted as
growth), then ``TRACED`` measured opens once the earlier screens are gone; the untraced
opens before them are the warm-up.

The screens that work on libvirt's test:/// driver run there. The console, the display
(+ its paste question), the agent's forms and KSM tuning need the real daemon and one
booted guest
(``test_daemon_screens_leave_nothing_behind``). Leaving the console with Ctrl+] keeps its
session on purpose, so that one session is counted once, not 50 times.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import tracemalloc
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libvirt
import pytest
from textual import events
from textual.dom import DOMNode
from textual.keys import key_to_character
from textual.pilot import Pilot
from textual.screen import Screen

from conftest import node_uri
from kvmtui.backend import hostfile, linked
from kvmtui.backend.agent_runs import AgentRuns
from kvmtui.backend.domain.notes import LINKED_NAMESPACE, LINKED_PREFIX, LinkedClone
from kvmtui.backend.hostfile import SavedHost
from kvmtui.backend.jobs import JobView
from kvmtui.backend.migrate import start_migration
from kvmtui.backend.migrate_options import MigrationOptions
from kvmtui.screens.agent import AgentScreen
from kvmtui.screens.agent_forms import (
    ExecFormScreen,
    PasswordFormScreen,
    RawFormScreen,
    SaveFormScreen,
)
from kvmtui.screens.balloon import BalloonPeriodScreen
from kvmtui.screens.clone_form import CloneFormScreen
from kvmtui.screens.config_editor import ConfigEditorScreen
from kvmtui.screens.config_forms import (
    AttachDiskScreen,
    AttachNicScreen,
    PreviewScreen,
    ValueScreen,
)
from kvmtui.screens.confirm import ConfirmScreen, TypeToConfirmScreen
from kvmtui.screens.console import (
    LOG_KEY,
    TAKEOVER_KEY,
    ConsoleScreen,
    LogPathScreen,
    TakeoverScreen,
)
from kvmtui.screens.delay import DelayScreen
from kvmtui.screens.details import DetailsScreen
from kvmtui.screens.display import (
    KEY_MENU_KEY,
    SAVE_KEY,
    DisplayScreen,
    KeyMenuScreen,
    SavePathScreen,
)
from kvmtui.screens.guests import GuestsScreen
from kvmtui.screens.help import HelpScreen
from kvmtui.screens.host import HostScreen
from kvmtui.screens.hosts import HostFormScreen, HostsScreen
from kvmtui.screens.jobs import JobsScreen
from kvmtui.screens.ksm import KsmScreen
from kvmtui.screens.ksm_thresholds import ThresholdsScreen
from kvmtui.screens.ksm_tune import KsmTuneScreen
from kvmtui.screens.migrate import MigrateDialog
from kvmtui.screens.migrate_progress import MigrationScreen
from kvmtui.screens.new_guest import NewGuestScreen
from kvmtui.screens.path_prompt import PathScreen
from kvmtui.screens.snapshot_forms import DeleteScreen, RevertScreen, SnapshotFormScreen
from kvmtui.screens.snapshots import SnapshotsScreen
from kvmtui.screens.storage import StorageScreen
from kvmtui.screens.storage_transfer import DownloadFormScreen, UploadFormScreen
from kvmtui.screens.storage_volume import VolumeFormScreen
from kvmtui.screens.throttle import ThrottleScreen
from kvmtui.screens.throttle_many import ThrottleManyScreen
from kvmtui.screens.throttle_preview import ThrottlePreviewScreen
from kvmtui.screens.xml_editor import XmlDiffScreen, XmlEditorScreen
from kvmtui.tui.app import KvmtuiApp, make_app
from kvmtui.tui.widgets.terminal import LEAVE_KEY
from tests.pilot import app_state, loaded, recorded_migration, run_async, screen_of, select
from tests.seed_watching import give_seed
from tests.snapshot_trees import make_tree

DATA = Path(__file__).parents[1] / "data"
OPENS = 50
TRACED = 10  # the last opens of the 50, measured by tracemalloc
TRACED_WARM_UP = 2  # opens traced before the measure: caches refilled from traced memory
#: Bytes of traced memory the measured opens of one kind may add: the issue's 1 MiB per
#: kind. Not scaled down to 10 of 50 opens: the screen below (details, KSM) keeps filling
#: its bounded histories while the kind opens and closes, a few hundred KiB at most.
MAX_GROWTH = 1024 * 1024
WORKERS_S = 30.0  # a closed screen's thread workers end within this
RELEASE_S = 2.0
#: How long one open or close may take. About 0.2 s here; under two CPU hogs beside the
#: other test lane and emulated guests on 2 cores one took over 10 s.
UNTIL_S = 30.0
#: One app's kinds take 2.5 minutes here (node.xml's); under that load they passed the
#: suite's 300 s limit per test.
LIMIT_S = 1200
POLL_S = 0.005
#: ``Kind.node`` of the screens that need the real daemon and the booted guest.
DAEMON = "daemon"
#: ``Kind.node`` of the migration screens: two test:/// hosts (``+`` joins node files).
TWO_NODES = "node.xml+storage-node.xml"

Ref = weakref.ref[Screen[Any]]
#: Run once before a kind's first open, after its parent keys: ready, or made ready, to
#: open; returns what undoes it (called, and awaited if it is a coroutine, after the kind's
#: last close), or None.
Undo = Callable[[], Awaitable[None] | None]
Prepare = Callable[[Pilot[None]], Awaitable[Undo | None]]


@dataclass(frozen=True)
class Kind:
    """One kind of screen and how the admin opens and closes it."""

    name: str
    screen: type[Screen[Any]]
    open: tuple[str, ...]  # the keys that open it, or a dialog that ``then`` answers
    close: tuple[str, ...] = ("escape",)
    parent: tuple[str, ...] = ()  # keys pressed once to reach the screen it opens from
    node: str = "node.xml"  # the test:/// node file, or DAEMON
    guest: str | None = "web-frontend-1"  # None: the daemon test's guest
    ready: Callable[[Any], object] | None = None  # of the screen on top, before opening
    prepare: Prepare | None = None
    kept: int = 0  # instances kept by design, each counted once
    push: Callable[[KvmtuiApp], Screen[Any]] | None = None  # opened by the app, not by keys
    opens: int = OPENS  # fewer only for a costly screen, with the reason at its line
    then: tuple[str, ...] = ()  # keys pressed in the dialog ``open`` opened, which opens it
    paste: str = ""  # pasted (as a terminal sends a paste) before the ``open`` keys


# -- what some kinds need before they open -------------------------------------------------


async def set_limit(pilot: Pilot[None]) -> None:
    """A limit typed in the throttle form on top, so ctrl+s has something to preview."""
    screen = pilot.app.screen
    assert isinstance(screen, ThrottleManyScreen | ThrottleScreen)
    form = screen.form if isinstance(screen, ThrottleManyScreen) else screen.disk_form
    form.input("total_iops_sec").value = "400"
    await pilot.pause()


async def marked(pilot: Pilot[None]) -> None:
    """Both guests of the throttle node marked (x), so t edits several at once."""
    table = screen_of(pilot.app).table  # type: ignore[arg-type]
    names = {g.name for g in table.marked_guests()}
    for key in table.ordered_keys():
        guest = table.guest(key)
        if guest is not None and guest.name not in names:
            table.toggle_mark(key)
    await pilot.pause()


async def many_set_limit(pilot: Pilot[None]) -> None:
    await marked(pilot)
    app = pilot.app
    await send_and_wait(pilot, ("t",), lambda: isinstance(app.screen, ThrottleManyScreen)
                        and bool(app.screen.query("#in-total_iops_sec")),
                        "the editor of several guests")
    await set_limit(pilot)


async def program_run(pilot: Pilot[None]) -> None:
    """A program run to its end in the guest, so o has an output to save."""
    screen = pilot.app.screen
    assert isinstance(screen, AgentScreen)
    runs: AgentRuns = screen.runs
    runs.start(screen.agent, ["true"], 10.0, spool=False)
    await until(pilot, lambda: screen.check_action("save_output", ()), "a finished run", 30)


async def display_still(pilot: Pilot[None]) -> None:
    """The display below takes no more screenshots while its dialogs open and close: a
    frame in flight when memory is read (a 720x400 picture, 844 KiB, decoded on a worker)
    is the display's, not the dialog's. The display is closed after the kind anyway."""
    display = pilot.app.screen
    assert isinstance(display, DisplayScreen)
    display._ended.set()  # capture() returns at once and schedules no next one

    def capturing() -> bool:
        return any(w.group == "capture" and not w.is_finished for w in pilot.app.workers)

    await until(pilot, lambda: not capturing(), "the display's last screenshot", 30)


async def console_taken(pilot: Pilot[None]) -> Callable[[], None]:
    """Another client (this test) takes the console over, so Shift+F3 asks to take it back."""
    screen = pilot.app.screen
    assert isinstance(screen, ConsoleScreen)
    await until(pilot, lambda: screen.session is not None and screen.session.attached,
                "the console attached")
    conn = libvirt.open(screen.host.uri)
    stream = conn.newStream(0)
    conn.lookupByUUIDString(screen.uuid).openConsole(None, stream,
                                                     libvirt.VIR_DOMAIN_CONSOLE_FORCE)
    await until(pilot, lambda: screen.session is not None and not screen.session.attached,
                "the console taken over by another client")

    def give_back() -> None:
        stream.abort()
        conn.close()

    return give_back


def with_tree(app: KvmtuiApp) -> None:
    make_tree(app.hosts[0].connection())


def with_seed(app: KvmtuiApp) -> None:
    """The shut-off "archive" gets a cloud-init seed disk, as the wizard attaches one."""
    give_seed(app.hosts[0].connection(), SEEDED)


#: Done once when a node's app has loaded, before its first kind.
NODE_SETUP: dict[str, Callable[[KvmtuiApp], None]] = {
    "snapshot-node.xml": with_tree,
    "storage-node.xml": with_seed,
}
SEEDED = "archive"


def config_row(key: str, *, change: bool = False) -> Prepare:
    """The configuration editor's cursor on the row ``key``; ``change``: enter on it too
    (a toggle, so one change is pending)."""

    async def prepare(pilot: Pilot[None]) -> None:
        editor = pilot.app.screen
        assert isinstance(editor, ConfigEditorScreen)
        editor.table.move_cursor(row=editor.table.get_row_index(key), animate=False)
        await until(pilot, lambda: editor.selected_key == key, f"the row {key}")
        if change:
            await send_and_wait(pilot, ("enter",), lambda: editor.pending, "a pending change")

    return prepare


async def scratch_volume(pilot: Pilot[None]) -> None:
    """The cursor on images' unused volume scratch.raw (the first one, app-1.qcow2, is
    in use: neither deleted nor grown)."""
    storage = pilot.app.screen
    assert isinstance(storage, StorageScreen)
    pools = storage.pool_table
    await until(pilot, lambda: pools.row_count, "the pools")
    (label,) = storage.hosts
    pools.move_cursor(row=pools.get_row_index(f"{label}/images"), animate=False)
    table = storage.volume_table
    await until(pilot, lambda: "scratch.raw" in table.volumes, "images' volumes")
    table.move_cursor(row=table.get_row_index("scratch.raw"), animate=False)
    await until(pilot, lambda: storage.disabled_reason("delete_volume") is None,
                "scratch.raw selected")  # fmt: skip


async def xml_edited(pilot: Pilot[None]) -> None:
    """A description typed into the XML editor's text, so the text differs from the saved."""
    editor = pilot.app.screen
    assert isinstance(editor, XmlEditorScreen)
    editor.text_area.insert("  <description>leak check</description>\n", (1, 0))
    await until(pilot, lambda: editor.edited, "the edit")


def saved_host(app: KvmtuiApp, folder: Path) -> None:
    """A saved host in a hosts file of the test's own (not the user's), first in the list."""
    app.hosts_file = folder / "hosts.toml"
    hostfile.save([SavedHost("spare", "test:///default")], app.hosts_file)


async def linked_clone(pilot: Pilot[None]) -> Callable[[], None]:
    """The shut-off "build" recorded as the base of a linked clone (app-2, whose disk is
    named as the overlay), as the clone job records one; undone by removing the note."""
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    conn = app.hosts[0].connection()
    base, clone = conn.lookupByName("build"), conn.lookupByName("app-2")
    images = "/var/lib/libvirt/images"
    entry = LinkedClone(clone.UUIDString(), "app-2", f"{images}/build.qcow2",
                        f"{images}/app-2.qcow2")  # fmt: skip
    linked.record(conn, base, entry)
    assert linked.dependants(conn, base) == ("app-2",)

    def forget() -> None:
        base.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, LINKED_PREFIX,
                         LINKED_NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_CONFIG)  # fmt: skip

    return forget


class Hold:
    """Keeps a job's thread in its first report until released: a job that runs until
    the test lets it go (a registry listener, as the daemon's jobs tests hold an upload)."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, view: JobView) -> None:
        if threading.current_thread().name.startswith("job:") and not self.release.is_set():
            self.reached.set()
            self.release.wait(60)


def migration_held(key: str, screen: type[Screen[Any]], action: str) -> Prepare:
    """A real migration job of the selected guest to the second host, held in its
    pre-flight (test:/// cannot migrate, so it would fail at once); ``key`` opens
    ``screen`` on it (m: its progress, J: the jobs), where ``action`` is then allowed.
    Undone by cancelling the job: nothing has been sent to either host."""

    async def prepare(pilot: Pilot[None]) -> Callable[[], Awaitable[None]]:
        app = pilot.app
        assert isinstance(app, KvmtuiApp)
        guests = screen_of(app)
        guest = guests.table.selected_guest
        assert guest is not None and app.jobs is not None
        jobs, hold = app.jobs, Hold()
        jobs.add_listener(hold)
        view, migration = start_migration(jobs, app.hosts[0], guest.uuid, guest.name,
                                          app.hosts[1], "", MigrationOptions())  # fmt: skip
        guests.migrations[guest.key] = migration  # as the migrate dialog's answer does
        await until(pilot, hold.reached.is_set, "the migration job held")
        await send_and_wait(pilot, (key,), lambda: isinstance(app.screen, screen)
                            and app.screen.check_action(action, ()) is True,
                            f"{screen.__name__} with {action}")  # fmt: skip

        async def cancel() -> None:
            jobs.cancel(view.id)
            hold.release.set()
            jobs.remove_listener(hold)
            await until(pilot, lambda: (jobs.get(view.id) or view).finished, "the job's end")

        return cancel

    return prepare


def agent_ready(screen: Any) -> bool:
    return isinstance(screen, AgentScreen) and screen.why_unavailable("exec") is None


KINDS = [
    Kind("details", DetailsScreen, ("enter",)),
    Kind("agent", AgentScreen, ("g",)),
    Kind("ksm", KsmScreen, ("K",)),
    Kind("ksm thresholds", ThresholdsScreen, ("t",), parent=("K",)),
    Kind("host", HostScreen, ("H",)),
    Kind("help", HelpScreen, ("question_mark",)),
    Kind("jobs", JobsScreen, ("J",)),
    Kind("hosts", HostsScreen, ("ctrl+o",)),
    Kind("host add form", HostFormScreen, ("a",), parent=("ctrl+o",)),
    Kind("host edit form", HostFormScreen, ("e",), parent=("ctrl+o",),
         ready=lambda s: s.selected_name is not None),
    Kind("new guest wizard", NewGuestScreen, ("n",)),
    # 0.75 s an open on two cores, all of it Textual styling and laying out the dialog and
    # the two hosts' list below as it resumes: 20 opens still measure the same 10 traced.
    Kind("migrate dialog", MigrateDialog, ("m",), node=TWO_NODES, opens=20),
    Kind("migration progress", MigrationScreen, (), node=TWO_NODES,
         push=lambda app: recorded_migration(app.hosts[0])),
    Kind("xml editor", XmlEditorScreen, ("E",)),
    Kind("delay question", DelayScreen, ("d",)),
    Kind("force-off question", ConfirmScreen, ("F",), close=("n",)),
    Kind("reset question", ConfirmScreen, ("R",)),
    Kind("undefine question", TypeToConfirmScreen, ("U",)),
    Kind("config editor", ConfigEditorScreen, ("e",), node="throttle_node.xml", guest="db-primary"),
    Kind("throttle", ThrottleScreen, ("t",), node="throttle_node.xml", guest="db-primary"),
    Kind("throttle preview", ThrottlePreviewScreen, ("ctrl+s",), ("n",), ("t",),
         "throttle_node.xml", "db-primary", lambda s: s.disks is not None, set_limit),
    Kind("throttle many", ThrottleManyScreen, ("t",), node="throttle_node.xml",
         guest="db-primary", prepare=marked),
    Kind("throttle many preview", ThrottlePreviewScreen, ("ctrl+s",), ("n",),
         node="throttle_node.xml", guest="db-primary", prepare=many_set_limit),
    Kind("storage", StorageScreen, ("S",), node="storage-node.xml", guest="app-1"),
    Kind("clone form", CloneFormScreen, ("C",), node="storage-node.xml", guest="build"),
    Kind("volume form", VolumeFormScreen, ("c",), ("escape",), ("S",), "storage-node.xml", "app-1",
         lambda s: s.selected_pool is not None),
    Kind("upload form", UploadFormScreen, ("u",), ("escape",), ("S",), "storage-node.xml",
         "app-1", lambda s: s.selected_pool is not None),
    Kind("download form", DownloadFormScreen, ("o",), ("escape",), ("S",), "storage-node.xml",
         "app-1", lambda s: s.selected_volume is not None),
    Kind("snapshots", SnapshotsScreen, ("z",), node="snapshot-node.xml", guest="web"),
    Kind("snapshot form", SnapshotFormScreen, ("n",), ("escape",), ("z",), "snapshot-node.xml",
         "web", lambda s: s.snapshot_tree is not None),
    Kind("revert question", RevertScreen, ("v",), ("n",), ("z",), "snapshot-node.xml", "web",
         lambda s: s.selected is not None and s.disabled_reason("revert") is None),
    Kind("delete question", DeleteScreen, ("d",), ("n",), ("z",), "snapshot-node.xml", "web",
         lambda s: s.selected is not None and s.disabled_reason("delete") is None),
    Kind("balloon question", BalloonPeriodScreen, ("b",), parent=("enter",),
         node="balloon_node.xml", guest="silent", ready=lambda s: s.domain_layout is not None),
    Kind("stop-pool question", ConfirmScreen, ("S",), ("n",), ("S",), "storage-node.xml", "app-1",
         lambda s: s.selected_pool is not None),
    Kind("delete-volume question", TypeToConfirmScreen, ("d",), ("escape",), ("S",),
         "storage-node.xml", "app-1", lambda s: s.selected_volume is not None, scratch_volume),
    Kind("grow-volume form", VolumeFormScreen, ("g",), ("escape",), ("S",), "storage-node.xml",
         "app-1", lambda s: s.selected_volume is not None, scratch_volume),
    Kind("clone shutdown question", ConfirmScreen, ("C",), ("n",), node="storage-node.xml",
         guest="app-1"),
    Kind("start-anyway question", ConfirmScreen, ("s",), ("n",), node="storage-node.xml",
         guest="build", prepare=linked_clone),
    Kind("seed-detach question", ConfirmScreen, ("x",), ("n",), ("enter",), "storage-node.xml",
         SEEDED, lambda s: s.seed is not None),
    Kind("seed-volume question", ConfirmScreen, ("x",), ("escape",), ("enter",),
         "storage-node.xml", SEEDED, lambda s: s.seed is not None, then=("y",)),
    Kind("remove-host question", ConfirmScreen, ("d",), ("n",), ("ctrl+o",),
         ready=lambda s: s.selected_name == "spare"),
    Kind("xml diff", XmlDiffScreen, ("ctrl+s",), ("escape",), ("E",),
         ready=lambda s: s.definition is not None, prepare=xml_edited),
    Kind("xml discard question", ConfirmScreen, ("escape",), ("n",), ("E",),
         ready=lambda s: s.definition is not None, prepare=xml_edited),
    Kind("config value", ValueScreen, ("enter",), ("escape",), ("e",), "throttle_node.xml",
         "db-primary", lambda s: s.selected_key == "vcpus"),
    Kind("attach disk form", AttachDiskScreen, ("a",), ("escape",), ("e",), "throttle_node.xml",
         "db-primary", lambda s: s.config is not None),
    Kind("attach NIC form", AttachNicScreen, ("n",), ("escape",), ("e",), "throttle_node.xml",
         "db-primary", lambda s: s.config is not None),
    Kind("detach question", ConfirmScreen, ("d",), ("n",), ("e",), "throttle_node.xml",
         "db-primary", lambda s: s.config is not None, config_row("disk:vdb")),
    Kind("config preview", PreviewScreen, ("ctrl+s",), ("n",), ("e",), "throttle_node.xml",
         "db-primary", lambda s: s.config is not None, config_row("bootmenu", change=True)),
    Kind("config leave question", ConfirmScreen, ("escape",), ("n",), ("e",),
         "throttle_node.xml", "db-primary", lambda s: s.config is not None,
         config_row("bootmenu", change=True)),
    Kind("migration speed", PathScreen, ("s",), node=TWO_NODES,
         prepare=migration_held("m", MigrationScreen, "speed")),
    Kind("migration cancel question", ConfirmScreen, ("c",), ("n",), node=TWO_NODES,
         prepare=migration_held("m", MigrationScreen, "cancel_migration")),
    Kind("stop-job question", ConfirmScreen, ("c",), ("n",), node=TWO_NODES,
         prepare=migration_held("J", JobsScreen, "cancel_job")),
    Kind("console", ConsoleScreen, ("c",), (LEAVE_KEY,), node=DAEMON, guest=None, kept=1),
    Kind("console log path", LogPathScreen, (LOG_KEY,), ("escape",), ("c",), DAEMON, None),
    Kind("console takeover", TakeoverScreen, (TAKEOVER_KEY,), ("n",), ("c",), DAEMON, None,
         prepare=console_taken),
    Kind("display", DisplayScreen, ("v",), (LEAVE_KEY,), node=DAEMON, guest=None),
    Kind("display key menu", KeyMenuScreen, (KEY_MENU_KEY,), ("escape",), ("v",), DAEMON, None,
         lambda s: s.frame is not None, display_still),
    Kind("display save path", SavePathScreen, (SAVE_KEY,), ("escape",), ("v",), DAEMON, None,
         lambda s: s.frame is not None, display_still),
    Kind("display paste question", ConfirmScreen, (), ("n",), ("v",), DAEMON, None,
         lambda s: s.frame is not None, display_still, paste="x" * 300),
    Kind("agent, live", AgentScreen, ("g",), node=DAEMON, guest=None),
    Kind("agent run form", ExecFormScreen, ("e",), ("escape",), ("g",), DAEMON, None,
         agent_ready),
    Kind("agent password form", PasswordFormScreen, ("w",), ("escape",), ("g",), DAEMON, None,
         agent_ready),
    Kind("agent JSON form", RawFormScreen, ("j",), ("escape",), ("g",), DAEMON, None,
         agent_ready),
    Kind("agent reboot question", ConfirmScreen, ("b",), ("n",), ("g",), DAEMON, None,
         agent_ready),
    Kind("agent save form", SaveFormScreen, ("o",), ("escape",), ("g",), DAEMON, None,
         agent_ready, program_run),
    Kind("ksm tune form", KsmTuneScreen, ("p",), ("escape",), ("K",), DAEMON, None,
         lambda s: s.tuning_permission(s.host).allowed),
    # Answered n: KSM is the host's, shared with every other test.
    Kind("ksm set question", ConfirmScreen, ("p",), ("n",), ("K",), DAEMON, None,
         lambda s: s.tuning_permission(s.host).allowed, then=("enter",)),
    Kind("ksm run question", ConfirmScreen, ("r",), ("n",), ("K",), DAEMON, None,
         lambda s: s.run_permission(s.host).allowed),
]
NODES = list(dict.fromkeys(k.node for k in KINDS if k.node != DAEMON))


# -- driving the app -------------------------------------------------------------------------


async def until(pilot: Pilot[None], ready: Callable[[], object], what: str,
                timeout: float = UNTIL_S) -> None:
    """Let the app run until ``ready()``, looking every few milliseconds; fails at the
    deadline. (Pilot's own waits sleep until the process is idle: a third of a second a
    key, most of the time this module took.)"""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what}; {app_state(pilot.app)}"
            )
        await asyncio.sleep(POLL_S)


async def send_and_wait(
    pilot: Pilot[None], keys: tuple[str, ...], ready: Callable[[], object], what: str
) -> None:
    """Send ``keys`` as the terminal would (the app handles them in order), then wait."""
    for key in keys:
        pilot.app.post_message(events.Key(key, key_to_character(key)))
    await until(pilot, ready, what)


async def open_and_close(pilot: Pilot[None], kind: Kind) -> list[Ref]:
    """Open the screen with its keys, wait until it is mounted, close it; weak references
    to it and to the dialog that opened it (``then``)."""
    app = pilot.app
    below = app.screen
    name = kind.screen.__name__
    if kind.push is not None:
        app.push_screen(kind.push(app))
    if kind.paste:
        app.post_message(events.Paste(kind.paste))
    refs: list[Ref] = []
    if kind.then:
        await send_and_wait(pilot, kind.open, lambda: app.screen is not below
                            and app.screen.is_mounted, f"the dialog before {name}")  # fmt: skip
        refs.append(weakref.ref(app.screen))
    keys, first = kind.then or kind.open, app.screen
    await send_and_wait(
        pilot, keys,
        lambda: isinstance(app.screen, kind.screen) and app.screen.is_mounted
        and (not kind.then or app.screen is not first), f"{name} to open",
    )  # fmt: skip
    refs.append(weakref.ref(app.screen))
    await send_and_wait(pilot, kind.close, lambda: app.screen is below, f"{name} to close")
    return refs


async def back_to_list(pilot: Pilot[None]) -> GuestsScreen:
    """Pop every screen above the guest list (a console's session stays, by design)."""
    app = pilot.app
    screen = screen_of(app)  # type: ignore[arg-type]
    while app.screen is not screen:
        app.pop_screen()
        await pilot.pause()
    return screen


async def released(pilot: Pilot[None], refs: list[Ref], kept: int) -> int:
    """Let the closed screens go: their thread workers end (a worker holds its screen until
    then), and a pool thread drops its finished job a moment after the worker says so.
    The number of screens still alive (at most ``kept`` once all went)."""
    app = pilot.app
    closed = {id(ref()) for ref in refs if ref() is not None}

    def running() -> bool:
        """A worker of a closed screen still runs (the screen below may have its own)."""
        for worker in app.workers:
            node: object = worker.node
            while isinstance(node, DOMNode) and not isinstance(node, Screen):
                node = node._parent
            if not worker.is_finished and id(node) in closed:
                return True
        return False

    await until(pilot, lambda: not running(), "the closed screens' workers", WORKERS_S)

    def alive() -> int:
        gc.collect()
        return len({id(ref()) for ref in refs if ref() is not None})

    deadline = time.monotonic() + RELEASE_S
    while (left := alive()) > kept and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return left


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def check_kind(pilot: Pilot[None], kind: Kind, guest: str) -> str | None:
    """Open and close ``kind`` its ``opens`` times; what it left behind, or None."""
    app = pilot.app
    screen = await back_to_list(pilot)
    await select(pilot, screen.table, guest)
    undo = None
    if kind.parent:
        await pilot.press(*kind.parent)
        await until(pilot, lambda: app.screen is not screen, f"{kind.name}'s parent screen")
    if (ready := kind.ready) is not None:
        await until(pilot, lambda: ready(app.screen), f"{kind.name}'s parent ready", 30)
    if kind.prepare is not None:
        undo = await kind.prepare(pilot)
        # What the preparation changed is laid out now, not while the first dialog is on
        # top: a Resize sent then names the dialog as its sender, and a widget's message
        # loop keeps its last message until the next one (Textual), so that first dialog
        # stayed alive while its parent was open (seen: the pending line of the config
        # editor, the storage screen's tables).
        await pilot.pause()
    refs: list[Ref] = []
    try:
        for number in range(kind.opens):
            if number == kind.opens - TRACED - TRACED_WARM_UP:
                tracemalloc.start()
            if number == kind.opens - TRACED:
                await released(pilot, refs, kind.kept)
                before = traced()
            refs += await open_and_close(pilot, kind)
        left = await released(pilot, refs, kind.kept)
        grown = traced() - before
    finally:
        tracemalloc.stop()
        if undo is not None and (undoing := undo()) is not None:
            await undoing
    if left > kind.kept:
        return f"{kind.name}: {left} of its {len(refs)} screens still alive after closing"
    if grown >= MAX_GROWTH:
        return f"{kind.name}: traced memory grew {grown / 1024:.0f} KiB in {TRACED} opens"
    return None


async def check_kinds(
    app: KvmtuiApp,
    kinds: list[Kind],
    guest: str | None = None,
    setup: Callable[[KvmtuiApp], None] | None = None,
) -> None:
    """Every kind in turn on one app; the kinds that left something behind fail the test."""
    left: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        if setup is not None:
            setup(app)
        for kind in kinds:
            name = kind.guest or guest
            assert name is not None
            if (found := await check_kind(pilot, kind, name)) is not None:
                left.append(found)
    assert not left, "\n".join(left)


def build(*uris: str) -> KvmtuiApp:
    app = make_app(list(uris), retry_delays=(3600.0,))
    app.animation_level = "none"
    return app


@pytest.mark.timeout(LIMIT_S)
@pytest.mark.parametrize("node", NODES)
@run_async
async def test_screens_leave_nothing_behind(node: str, tmp_path: Path) -> None:
    app = build(*(node_uri(DATA / name) for name in node.split("+")))
    saved_host(app, tmp_path)
    await check_kinds(app, [k for k in KINDS if k.node == node], setup=NODE_SETUP.get(node))


@pytest.mark.timeout(LIMIT_S)
@pytest.mark.daemon
@run_async
async def test_daemon_screens_leave_nothing_behind(
    daemon_uri: str, display_guest: libvirt.virDomain
) -> None:
    """Console, display, the agent's forms and KSM tuning on a real guest with a screen."""
    app = build(daemon_uri)
    await check_kinds(app, [k for k in KINDS if k.node == DAEMON], display_guest.name())
