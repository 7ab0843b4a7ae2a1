"""Migration between the two real daemons: the first libvirtd and the second one the
harness runs in namespaces of its own (tests/harness/daemon2.py).

The guests' disk directory is seen at the same path by both daemons (shared storage, a
pool over it on the second); :data:`daemon2.PRIVATE_DIR` is a different directory on
each (copy storage). A local directory is not storage libvirt knows as shared, so the
shared-storage migrations pass ``unsafe``.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from kvmtui.backend.agent_info import AgentState
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobRegistry, JobState
from kvmtui.backend.migrate import start_migration
from kvmtui.backend.migrate_check import Destination
from kvmtui.backend.migrate_options import CopyStorage, MigrationOptions
from kvmtui.screens.agent import AgentScreen
from kvmtui.screens.console import ConsoleScreen, console_key
from kvmtui.screens.migrate import MigrateDialog
from kvmtui.screens.migrate_progress import MigrationScreen
from kvmtui.tui.widgets.terminal import LEAVE_KEY
from tests.conftest import TEST_GUEST_PREFIX
from tests.harness import daemon2
from tests.harness.guest_files import PROMPT
from tests.harness.guests import (
    GuestFactory,
    cleanup_guests,
    destroy_and_undefine,
    disk_path,
    domain_type,
    ensure_dir_pool,
    guest_xml,
    remove_pool,
    wait_for_agent,
)
from tests.harness.image import GuestImage
from tests.harness.paths import DISKS_DIR
from tests.harness.serial import SerialConsole
from tests.pilot import build_app, loaded, row_state, run_async, select, wait_for
from tests.testdriver.test_agent_screen import output, state_line
from tests.waiting import wait_for as wait_until

pytestmark = pytest.mark.daemon

SOURCE, DEST = "localhost", daemon2.NS_ADDRESS
SHARED_POOL, PRIVATE_POOL = "kvmtui-test-shared", "kvmtui-test-private"
#: The counter may stand still this long while the guest switches hosts.
MAX_GAP_S = 4.0
SHARED = MigrationOptions(unsafe=True)
JOB_DEADLINE_S = 90.0
TICK = re.compile(rb"tick-(\d+)")
UPTIME = re.compile(rb"up=(\d+)\.\d+ end")


def _pool(conn: libvirt.virConnect, name: str, directory: Path) -> None:
    """A pool NAME over DIRECTORY on CONN, redefined if it was over another directory
    (another checkout's disks)."""
    try:
        ensure_dir_pool(conn, name, directory)
    except RuntimeError:
        remove_pool(conn, name)
        ensure_dir_pool(conn, name, directory)


@pytest.fixture(scope="module")
def host2(daemon2_uri: str) -> Iterator[libvirt.virConnect]:
    """A connection to the second daemon, with pools over the shared and the private disk
    directories; this session's test guests there are removed at the end."""
    conn = libvirt.open(daemon2_uri)
    _pool(conn, SHARED_POOL, DISKS_DIR)
    _pool(conn, PRIVATE_POOL, daemon2.PRIVATE_DIR)
    yield conn
    cleanup_guests(conn, TEST_GUEST_PREFIX)
    conn.close()


@contextlib.contextmanager
def connected(uri: str, label: str, readonly: bool = False) -> Iterator[Host]:
    host = Host(uri, label=label, readonly=readonly)
    host.start()
    try:
        assert host.wait_connected(20), host.status
        yield host
    finally:
        host.stop()


@pytest.fixture
def source(daemon_uri: str) -> Iterator[Host]:
    with connected(daemon_uri, SOURCE) as host:
        yield host


def _gone(conn: libvirt.virConnect, name: str) -> bool:
    try:
        conn.lookupByName(name)
    except libvirt.libvirtError as exc:
        return exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN
    return False


def _shell(console: SerialConsole, command: str, marker: bytes, timeout: float = 20) -> bytes:
    console.send(command.encode() + b"\r")
    return console.read_until(marker, timeout)


def _last_tick(console: SerialConsole, after: int, timeout: float = 20) -> tuple[int, float]:
    """Wait for a tick above AFTER; the highest seen and when."""
    deadline = time.monotonic() + timeout
    seen = after
    text = b""
    while seen <= after:
        if time.monotonic() > deadline:
            raise AssertionError(f"no tick above {after} in {timeout:.0f} s; got {text[-200:]!r}")
        with contextlib.suppress(TimeoutError):
            text += console.read_until(b"\n", 1.0)
        ticks = [int(t) for t in TICK.findall(text)]
        seen = max(ticks, default=after)
    return seen, time.monotonic()


def _uptime(console: SerialConsole) -> int:
    text = _shell(console, "echo up=$(cut -d' ' -f1 /proc/uptime) \"e\"\"nd\"", b"end\r\n")
    found = UPTIME.findall(text)
    assert found, f"no uptime in {text!r}"
    return int(found[-1])


@run_async
async def test_live_migration_moves_a_running_guest_without_a_restart(
    daemon_uri: str, daemon2_uri: str, host2: libvirt.virConnect, guest_factory: GuestFactory
) -> None:
    """m, the destination, ctrl+s: the counter on the serial console goes on at the other
    host, uptime goes on, the row leaves the source and appears under the destination
    through libvirt's events, the console that was open reopens there, and the open agent
    panel follows the guest there with its answer kept."""
    dom = guest_factory()
    name = dom.name()
    wait_for_agent(dom, 60)
    with SerialConsole(dom) as console:
        console.wait_for_prompt(PROMPT.encode(), 20)
        uptime_before, uptime_at = _uptime(console), time.monotonic()
        _shell(console, "i=0; while :; do i=$((i+1)); echo tick-$i; sleep 1; done &", b"\n")
        tick_a, at_a = _last_tick(console, 1)

    app = build_app(daemon_uri, daemon2_uri, clock=time.time)
    async with app.run_test(size=(100, 36)) as pilot:
        screen = await loaded(pilot)
        await select(pilot, screen.table, name, SOURCE)
        # Its console open (and left): after the move it reopens on the destination.
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen), "the console")
        await pilot.press(LEAVE_KEY)
        await wait_for(pilot, lambda: app.screen is screen, "the list again")
        # Its agent panel open with an answer shown: it follows the guest too.
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, AgentScreen), "the agent panel")
        agent = app.screen
        assert isinstance(agent, AgentScreen)
        await wait_for(pilot, lambda: agent.state is AgentState.CONNECTED, "the agent", 30)
        await pilot.press("p")
        await wait_for(pilot, lambda: "answered" in output(agent), "the agent's answer", 30)
        screen.action_migrate()  # m of the list, below the open panel
        # Composed, not only pushed (no key press waited for it).
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, MigrateDialog) and app.screen.is_mounted,
            "the dialog",
        )
        dialog = app.screen
        assert isinstance(dialog, MigrateDialog)
        from textual.widgets import Checkbox

        dialog.query_one("#unsafe", Checkbox).value = True
        await wait_for(pilot, lambda: "ready" in dialog.preflight_text, "pre-flight", 20)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, MigrationScreen), "progress")
        progress = app.screen
        assert isinstance(progress, MigrationScreen)
        await wait_for(pilot, lambda: progress.state_done, "the migration", JOB_DEADLINE_S)
        view = progress.view()
        assert view is not None and view.state is JobState.DONE, view
        await wait_for(pilot, lambda: "Migrated" in progress.outcome_text, "the outcome shown")
        await wait_for(pilot, lambda: row_state(screen.table, name, SOURCE) is None,
                       "the row to leave the source", 20)  # fmt: skip
        assert row_state(screen.table, name, DEST) is not None
        dest_host = next(h for h in app.hosts if h.label == DEST)
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ConsoleScreen) and app.screen.host is dest_host,
            "the console on the destination",
        )
        assert not app.is_screen_installed(console_key(app.hosts[0], dom.UUIDString()))
        # The agent panel below asks the destination now; the answer it showed is kept.
        await wait_for(pilot, lambda: agent.host is dest_host, "the agent panel to follow")
        assert "answered" in output(agent)
        await pilot.press(LEAVE_KEY)
        await pilot.press("escape")  # the progress view
        await wait_for(pilot, lambda: app.screen is agent, "the agent panel on top")
        await wait_for(pilot, lambda: agent.state is AgentState.CONNECTED, "the agent there", 30)
        assert f"Followed the guest from {SOURCE} to {DEST}" in state_line(agent)
        await pilot.press("p")
        await wait_for(pilot, lambda: agent.busy is None, "the agent there to answer", 30)
        assert "answered" in output(agent), output(agent)

    moved = host2.lookupByName(name)
    assert moved.isActive()
    assert _gone(dom.connect(), name)
    with SerialConsole(moved) as console:
        tick_b, at_b = _last_tick(console, tick_a)
        # The counter went on from where it was: no restart, no long pause.
        assert tick_b - tick_a >= (at_b - at_a) - MAX_GAP_S, (tick_a, tick_b, at_b - at_a)
        console.send(b"kill %1\r")
        uptime_after = _uptime(console)
    assert uptime_after >= uptime_before + int(time.monotonic() - uptime_at) - MAX_GAP_S


def _wait_running(migration_figures, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    wait_until(lambda: (f := migration_figures()) is not None and f.processed > 0, timeout,
               what="the migration to send data")  # fmt: skip


def test_refused_then_cancelled_the_guest_stays_then_post_copy_moves_it(
    source: Host, daemon2_uri: str, host2: libvirt.virConnect, guest_factory: GuestFactory
) -> None:
    dom = guest_factory()
    name = dom.name()
    wait_for_agent(dom, 60)
    jobs = JobRegistry()
    # libvirt refuses a local directory as shared storage: its reason, the guest stays.
    view, _ = start_migration(jobs, source, dom.UUIDString(), name, None, daemon2_uri,
                              MigrationOptions())  # fmt: skip
    failed = jobs.wait(view.id, JOB_DEADLINE_S)
    assert failed is not None and failed.state is JobState.FAILED, failed
    assert failed.outcome == (
        f"Could not migrate guest '{name}' from {SOURCE} to {DEST}: Unsafe migration: "
        f"Migration without shared storage is unsafe. It keeps running on {SOURCE}."
    )
    assert dom.isActive() and _gone(host2, name)

    slow = MigrationOptions(unsafe=True, bandwidth_mib_s=1, postcopy=True)
    view, migration = start_migration(jobs, source, dom.UUIDString(), name, None, daemon2_uri,
                                      slow)  # fmt: skip
    _wait_running(lambda: migration.figures)
    figures = migration.figures
    assert figures is not None and figures.total > figures.processed > 0
    assert jobs.cancel(view.id)
    done = jobs.wait(view.id, JOB_DEADLINE_S)
    assert done is not None and done.state is JobState.CANCELLED, done
    assert dom.isActive(), "the guest must keep running on the source"
    assert _gone(host2, name), "nothing may be left on the destination"

    # Post-copy: switched while the slow pre-copy runs, the guest runs on the other side.
    view, migration = start_migration(jobs, source, dom.UUIDString(), name, None, daemon2_uri,
                                      slow)  # fmt: skip
    _wait_running(lambda: migration.figures)
    migration.start_postcopy()
    done = jobs.wait(view.id, JOB_DEADLINE_S)
    assert done is not None and done.state is JobState.DONE, done
    # Pre-copy at 1 MiB/s would take minutes for 256 MiB; post-copy ends it at once.
    assert done.elapsed_s < 60, done
    assert host2.lookupByName(name).isActive()
    assert _gone(dom.connect(), name)


@pytest.fixture
def private_guest(
    daemon_uri: str, guest_image: GuestImage, host2: libvirt.virConnect
) -> Iterator[libvirt.virDomain]:
    """A running guest whose disk is in PRIVATE_DIR (each daemon has its own there)."""
    name = f"{TEST_GUEST_PREFIX}{uuid.uuid4().hex[:8]}"
    disk = daemon2.PRIVATE_DIR / f"{name}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    conn = libvirt.open(daemon_uri)
    xml = guest_xml(name, guest_image, domain_type=domain_type(conn, guest_image),
                    memory_mib=256, vcpus=1, disk=disk)  # fmt: skip
    dom = conn.defineXML(xml)
    dom.create()
    yield dom
    for side in (conn, host2):
        with contextlib.suppress(libvirt.libvirtError):
            destroy_and_undefine(side.lookupByName(name))
    conn.close()
    disk.unlink(missing_ok=True)
    (daemon2.PRIVATE_BACKING / disk.name).unlink(missing_ok=True)
    with contextlib.suppress(libvirt.libvirtError):
        host2.storagePoolLookupByName(PRIVATE_POOL).refresh(0)


def test_copy_storage_runs_the_guest_from_its_own_copy(
    source: Host, daemon2_uri: str, host2: libvirt.virConnect, private_guest: libvirt.virDomain
) -> None:
    dom, name = private_guest, private_guest.name()
    wait_for_agent(dom, 60)
    read = "echo 3 > /proc/sys/vm/drop_caches; echo sum=$(head -c 4194304 /dev/vda | md5sum)="
    with SerialConsole(dom) as console:
        console.wait_for_prompt(PROMPT.encode(), 20)
        _shell(console, "dd if=/dev/urandom of=/dev/vda bs=65536 count=64 2>/dev/null; sync",
               PROMPT.encode())  # fmt: skip
        before = re.findall(rb"sum=([0-9a-f]{32})", _shell(console, read, b" -=\r\n"))
    jobs = JobRegistry()
    options = MigrationOptions(copy_storage=CopyStorage.ALL)
    view, _migration = start_migration(jobs, source, dom.UUIDString(), name, None, daemon2_uri,
                                       options)  # fmt: skip
    done = jobs.wait(view.id, JOB_DEADLINE_S)
    assert done is not None and done.state is JobState.DONE, done
    moved = host2.lookupByName(name)
    copy = daemon2.PRIVATE_BACKING / f"{name}.qcow2"
    assert copy.exists() and copy.stat().st_size > 4 * 2**20, "the destination's own copy"
    with SerialConsole(moved) as console:
        after = re.findall(rb"sum=([0-9a-f]{32})", _shell(console, read, b" -=\r\n"))
    assert before and before == after


# -- pre-flight refusals: each its sentence, nothing changed -------------------------


def _refused(source: Host, dom: libvirt.virDomain, dest: Host, options: MigrationOptions) -> str:
    jobs = JobRegistry()
    view, _ = start_migration(jobs, source, dom.UUIDString(), dom.name(), dest, "", options)
    done = jobs.wait(view.id, 30)
    assert done is not None and done.state is JobState.FAILED, done
    return done.outcome or ""


@pytest.fixture
def dest(daemon2_uri: str) -> Iterator[Host]:
    with connected(daemon2_uri, DEST) as host:
        yield host


OFFLINE = MigrationOptions(live=False, unsafe=True)


def test_preflight_refuses_a_name_clash(
    source: Host, dest: Host, host2: libvirt.virConnect, guest_factory: GuestFactory,
    guest_image: GuestImage,
) -> None:  # fmt: skip
    dom = guest_factory(start=False)
    xml = guest_xml(dom.name(), guest_image, domain_type="qemu", memory_mib=128, vcpus=1,
                    disk=disk_path(dom.name()))  # fmt: skip
    theirs = host2.defineXML(xml)
    try:
        outcome = _refused(source, dom, dest, OFFLINE)
        assert outcome == (f"A guest named '{dom.name()}' already exists on {DEST}: remove or "
                           "rename it there first.")  # fmt: skip
        assert dom.isPersistent() and not _gone(dom.connect(), dom.name())
        assert host2.lookupByName(dom.name()).UUIDString() == theirs.UUIDString()
    finally:
        theirs.undefine()


def test_preflight_refuses_a_missing_network(
    source: Host, dest: Host, host2: libvirt.virConnect, daemon_uri: str, guest_image: GuestImage
) -> None:
    name = f"{TEST_GUEST_PREFIX}{uuid.uuid4().hex[:8]}"
    xml = guest_xml(name, guest_image, domain_type="qemu", memory_mib=128, vcpus=1,
                    disk=disk_path(name))  # fmt: skip
    xml = re.sub(r"<interface type='ethernet'>.*?</interface>",
                 "<interface type='network'><source network='kvmtui-test-nonet'/></interface>",
                 xml, flags=re.S)  # fmt: skip
    conn = libvirt.open(daemon_uri)
    dom = conn.defineXML(xml)
    try:
        outcome = _refused(source, dom, dest, OFFLINE)
        assert "Network 'kvmtui-test-nonet' does not exist on 10.251.0.2." in outcome
        assert _gone(host2, name) and not _gone(conn, name)
    finally:
        dom.undefine()
        conn.close()


def test_preflight_refuses_a_read_only_destination(
    source: Host, daemon2_uri: str, host2: libvirt.virConnect, guest_factory: GuestFactory
) -> None:
    dom = guest_factory(start=False)
    with connected(daemon2_uri, DEST, readonly=True) as readonly:
        outcome = _refused(source, dom, readonly, OFFLINE)
        assert outcome == (f"Could not migrate guest '{dom.name()}' to {DEST}: the connection "
                           f"to {DEST} is read-only. Connect to it read-write to migrate there.")
        assert _gone(host2, dom.name()) and dom.isPersistent()


def test_preflight_lists_every_problem_in_one_sentence_each(
    source: Host, daemon2_uri: str, host2: libvirt.virConnect, guest_factory: GuestFactory
) -> None:
    """Read-only destination, offline of a running guest: both said, one sentence each."""
    from kvmtui.backend.migrate import preflight

    dom = guest_factory(start=False)
    conn = libvirt.openReadOnly(daemon2_uri)
    try:
        found = preflight(source, dom.UUIDString(), Destination(DEST, daemon2_uri, True, conn),
                          MigrationOptions(live=True))  # fmt: skip
    finally:
        conn.close()
    problems = found.problems
    assert found.warnings == []  # its disk is in the shared pool there: checked, not warned
    assert problems[0] == (f"The connection to {DEST} is read-only: migrating to it needs a "
                           "read-write connection.")  # fmt: skip
    assert any(p.startswith("The guest is not running") for p in problems)
    assert all(p.count(". ") <= 1 for p in problems)


def test_preflight_warns_of_a_disk_no_destination_pool_covers(
    source: Host, daemon2_uri: str, host2: libvirt.virConnect, daemon_uri: str,
    guest_image: GuestImage,
) -> None:  # fmt: skip
    """A disk in a directory no pool on the destination covers: libvirt cannot look
    there, so the pre-flight warns (shared storage at the same path is needed) instead of
    refusing or passing in silence."""
    from kvmtui.backend.migrate import preflight

    name = f"{TEST_GUEST_PREFIX}{uuid.uuid4().hex[:8]}"
    elsewhere = f"/var/lib/kvmtui-no-pool/{name}.qcow2"  # never created: defining needs no file
    xml = guest_xml(name, guest_image, domain_type="qemu", memory_mib=128, vcpus=1,
                    disk=Path(elsewhere))  # fmt: skip
    conn, dest = libvirt.open(daemon_uri), libvirt.open(daemon2_uri)
    dom = conn.defineXML(xml)
    try:
        found = preflight(source, dom.UUIDString(), Destination(DEST, daemon2_uri, False, dest),
                          OFFLINE)  # fmt: skip
        assert found.problems == []
        assert found.warnings == [
            f"Disk vda ({elsewhere}) cannot be checked on {DEST} (no storage pool there covers "
            "/var/lib/kvmtui-no-pool): it must be shared storage at the same path, or choose "
            "copy storage."
        ]
        assert _gone(host2, name)
    finally:
        dom.undefine()
        conn.close()
        dest.close()
