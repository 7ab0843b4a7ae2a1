"""The migration dialog and progress view on libvirt's test:/// driver: what they refuse
and ask before anything is sent (the migrations themselves: tests/daemon/)."""

from __future__ import annotations

import threading

from textual.widgets import Input

from kvmtui.backend.jobs import JobContext, JobRegistry, JobState
from kvmtui.backend.migrate import Migration
from kvmtui.backend.migrate_options import MigrationOptions
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
