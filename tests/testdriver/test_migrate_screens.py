"""The migration dialog and progress view on libvirt's test:/// driver: what they refuse
and ask before anything is sent (the migrations themselves: tests/daemon/)."""

from __future__ import annotations

import threading

import libvirt
import pytest
from textual.widgets import Input

from kvmtui.backend.jobs import JobContext, JobRegistry, JobState
from kvmtui.backend.migrate import Migration
from kvmtui.backend.migrate_check import Destination, Disk, Preflight, _disk_problems
from kvmtui.backend.migrate_options import CopyStorage, MigrationOptions
from kvmtui.screens import migrate as migrate_screen
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.migrate import MigrateDialog
from kvmtui.screens.migrate_progress import MigrationScreen
from kvmtui.tui.app import KvmtuiApp
from tests.pilot import STORAGE_NODE_URI, build_app, loaded, run_async, select, wait_for

SOURCE = "test:node"


@run_async
async def test_a_bad_number_is_one_sentence_and_nothing_starts(test_node_uri: str) -> None:
    app = build_app(test_node_uri, STORAGE_NODE_URI, stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await loaded(pilot)
        await select(pilot, screen.table, "web-frontend-1", SOURCE)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MigrateDialog), "the dialog")
        dialog = app.screen
        assert isinstance(dialog, MigrateDialog)
        dialog.query_one("#bandwidth_mib_s", Input).value = "-3"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "must be a whole number" in dialog.preflight_text, "why")
        assert dialog.preflight_text == (
            "Pre-flight: Max bandwidth MiB/s must be a whole number, 0 or more, not '-3'. "
            "Nothing was started."
        )
        assert app.screen is dialog and not app.jobs.jobs()


@run_async
async def test_m_is_disabled_on_a_read_only_connection(test_node_uri: str) -> None:
    app = build_app(test_node_uri, STORAGE_NODE_URI, readonly=True, stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await loaded(pilot)
        await select(pilot, screen.table, "web-frontend-1", SOURCE)
        assert screen.check_action("migrate", ()) is None
        assert screen.disabled_reason("migrate") == "read-only connection"
        await pilot.press("m")
        await pilot.pause()
        assert not isinstance(app.screen, MigrateDialog)


@run_async
async def test_cancel_asks_first(test_node_uri: str) -> None:
    """c in the progress view: n leaves the migration running, y cancels it."""
    jobs = JobRegistry(min_interval=0.0)
    app = build_app(test_node_uri, stats=False)
    waiting = threading.Event()

    def body(ctx: JobContext) -> str:
        waiting.set()
        while True:
            ctx.check_cancel()
            threading.Event().wait(0.01)

    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        assert isinstance(app, KvmtuiApp)
        migration = Migration(app.hosts[0], "uuid", "web-frontend-1", "kvm2", MigrationOptions())
        migration.job_id = jobs.start(SOURCE, "Migrate 'web-frontend-1'", body).id
        assert waiting.wait(5)
        app.push_screen(MigrationScreen(migration, jobs))
        await wait_for(pilot, lambda: isinstance(app.screen, MigrationScreen), "the view")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, MigrationScreen), "no")
        view = jobs.get(migration.job_id)
        assert view is not None and view.state is JobState.RUNNING
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        done = jobs.wait(migration.job_id, 5)
        assert done is not None and done.state is JobState.CANCELLED


# -- disks the destination cannot be asked about ------------------------------------------

STORAGE = "test:storage-node"


def _disks_on(dest_uri: str, disks: list[Disk], options: MigrationOptions) -> Preflight:
    conn = libvirt.open(dest_uri)
    try:
        return _disk_problems(disks, options, Destination("kvm2", dest_uri, False, conn))
    finally:
        conn.close()


def test_a_disk_is_checked_through_the_destination_pool_over_its_directory() -> None:
    """A pool there over the directory tells: held (nothing said) or not (refused)."""
    held = Disk("vda", "/var/lib/libvirt/images/app-1.qcow2", "qcow2", False)
    missing = Disk("vdb", "/var/lib/libvirt/images/gone.qcow2", "qcow2", False)
    found = _disks_on(STORAGE_NODE_URI, [held, missing], MigrationOptions(unsafe=True))
    assert found.warnings == []
    assert found.problems == [
        "Disk vdb (/var/lib/libvirt/images/gone.qcow2) is not on kvm2: the storage pool there "
        "over /var/lib/libvirt/images does not hold it. Put it on shared storage, or choose "
        "copy storage."
    ]


def test_a_disk_no_destination_pool_covers_is_a_warning_not_a_pass(test_node_uri: str) -> None:
    """No pool over /srv/plain there: libvirt cannot look, so the admin is told; copying
    the disk needs no look."""
    plain = Disk("vda", "/srv/plain/web.qcow2", "qcow2", False)
    found = _disks_on(test_node_uri, [plain], MigrationOptions())
    assert found.problems == []
    assert found.warnings == [
        "Disk vda (/srv/plain/web.qcow2) cannot be checked on kvm2 (no storage pool there "
        "covers /srv/plain): it must be shared storage at the same path, or choose copy storage."
    ]
    copied = _disks_on(
        STORAGE_NODE_URI, [plain], MigrationOptions(copy_storage=CopyStorage.ALL, dest_pool="bulk")
    )
    assert copied == Preflight([], [])


@run_async
async def test_the_dialog_shows_the_warning_before_ctrl_s_goes_ahead(
    test_node_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ctrl+s before the warning was on show only shows it; ctrl+s again migrates."""
    monkeypatch.setattr(migrate_screen, "DEBOUNCE_S", 600.0)  # no check but ctrl+s's
    app = build_app(STORAGE_NODE_URI, test_node_uri, stats=False)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await loaded(pilot)
        await select(pilot, screen.table, "app-1", STORAGE)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MigrateDialog), "the dialog")
        dialog = app.screen
        assert isinstance(dialog, MigrateDialog)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "⚠" in dialog.preflight_text, "the warning")
        assert "Disk vda (/var/lib/libvirt/images/app-1.qcow2) cannot be checked on test:node" in (
            dialog.preflight_text
        )
        assert "ctrl+s migrates anyway" in dialog.preflight_text
        assert app.screen is dialog and not app.jobs.jobs()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, MigrationScreen), "the migration")
        assert len(app.jobs.jobs()) == 1
