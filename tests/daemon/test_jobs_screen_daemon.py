"""The jobs screen with the real app on the real daemon, driven by keys: an upload
started in the storage screen finishes after that screen is closed and shows on the
jobs screen (J); the cancel key asks, then stops the job and the volume goes.

A listener of the test's own holds the job's thread at its first progress report
until the test lets go, so the screen is surely closed while the job runs (the app's
registry reports every chunk here, so that first report comes before the end).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from kvmtui.backend.jobs import JobRegistry, JobState, JobView
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.jobs import JobsScreen
from kvmtui.screens.storage import StorageScreen
from kvmtui.screens.storage_transfer import UploadFormScreen
from kvmtui.tui.app import KvmtuiApp, make_app
from kvmtui.tui.widgets.job_row import JobRow
from tests.pilot import loaded, run_async, wait_for
from tests.pools import dir_pool

pytestmark = pytest.mark.daemon

MIB = 1024**2


class Hold:
    """Keeps a job's thread in its first 'sending' report until released."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, view: JobView) -> None:
        on_job_thread = threading.current_thread().name.startswith("job:")
        sending = view.state is JobState.RUNNING and view.phase == "sending" and view.done > 0
        if on_job_thread and sending and not self.release.is_set():
            self.reached.set()
            self.release.wait(60)


@pytest.fixture
def pool(daemon_uri: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with dir_pool(daemon_uri, tmp_path) as made:
        yield made


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "disk.raw"
    path.write_bytes(bytes(range(256)) * (32 * MIB // 256))
    return path


async def start_upload(pilot: Pilot[None], pool_name: str, source: Path) -> StorageScreen:
    """S, the pool, u, the file's path, enter: the upload job starts."""
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    await loaded(pilot)
    await pilot.press("S")
    await wait_for(pilot, lambda: isinstance(app.screen, StorageScreen), "the storage screen")
    storage = app.screen
    assert isinstance(storage, StorageScreen)
    await wait_for(pilot, lambda: storage.loads >= 1, "the pools")
    table = storage.pool_table
    table.move_cursor(row=table.get_row_index(f"{app.hosts[0].label}/{pool_name}"))
    await wait_for(pilot, lambda: storage.check_action("upload_volume", ()), "upload enabled")
    await pilot.press("u")
    await wait_for(pilot, lambda: isinstance(app.screen, UploadFormScreen), "the upload form")
    # Typed key by key a long path takes seconds under Pilot: set it, then press enter.
    app.screen.query_one("#upload-path", Input).value = str(source)
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.jobs.jobs(), "the job")
    return storage


@run_async
async def test_job_outlives_its_screen_and_shows_on_the_jobs_screen(
    daemon_uri: str, pool: tuple[str, Path], source: Path
) -> None:
    name, target = pool
    app = make_app([daemon_uri], stats=False, jobs=JobRegistry(min_interval=0.0))
    hold = Hold()
    app.jobs.add_listener(hold)
    async with app.run_test(size=(120, 40)) as pilot:
        storage = await start_upload(pilot, name, source)
        await wait_for(pilot, hold.reached.is_set, "the job's first progress")
        await pilot.press("escape")
        await wait_for(pilot, lambda: storage not in app.screen_stack, "the storage screen gone")
        job = app.jobs.jobs()[0]
        assert job.state is JobState.RUNNING and 0 < job.done < source.stat().st_size
        assert app.jobs.listener_count == 2, "only the app's listener and the test's"

        hold.release.set()
        await wait_for(pilot, lambda: app.jobs.jobs()[0].finished, "the upload's end", 60)
        assert app.jobs.jobs()[0].state is JobState.DONE
        assert (target / "disk.raw").read_bytes() == source.read_bytes()

        await pilot.press("J")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen), "the jobs screen")
        jobs = app.screen
        assert isinstance(jobs, JobsScreen)
        await wait_for(pilot, lambda: jobs.rows, "a row")
        row = jobs.rows[0]
        assert row.view.state is JobState.DONE
        assert (row.view.outcome or "").startswith(f"Uploaded disk.raw to pool '{name}'")
        assert jobs.check_action("cancel_job", ()) is None, "an ended job has no cancel"


@run_async
async def test_cancel_key_asks_then_stops_the_job_and_removes_the_volume(
    daemon_uri: str, pool: tuple[str, Path], source: Path
) -> None:
    name, target = pool
    app = make_app([daemon_uri], stats=False, jobs=JobRegistry(min_interval=0.0))
    hold = Hold()
    app.jobs.add_listener(hold)
    async with app.run_test(size=(120, 40)) as pilot:
        await start_upload(pilot, name, source)
        await wait_for(pilot, hold.reached.is_set, "the job's first progress")
        await pilot.press("J")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen), "the jobs screen")
        jobs = app.screen
        assert isinstance(jobs, JobsScreen)
        await wait_for(pilot, lambda: isinstance(jobs.focused, JobRow), "the job selected")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.jobs.jobs()[0].state is JobState.CANCELLING, "cancel")
        hold.release.set()
        await wait_for(pilot, lambda: app.jobs.jobs()[0].finished, "the job's end", 60)
        await wait_for(
            pilot, lambda: jobs.rows and jobs.rows[0].view.state is JobState.CANCELLED, "the row"
        )
        assert "Removed the partial volume 'disk.raw'" in (jobs.rows[0].view.outcome or "")
        assert list(target.iterdir()) == []
        conn = libvirt.open(daemon_uri)
        try:
            assert conn.storagePoolLookupByName(name).listAllVolumes(0) == []
        finally:
            conn.close()
