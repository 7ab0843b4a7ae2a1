"""Snapshots of the jobs screen (J) on libvirt's test:/// driver (tests/data/storage-node.xml).

Four jobs of the one host run through the app's real job registry before the app
starts, on a clock only the jobs move, so every figure is fixed: a finished upload, an
upload refused for space, a download cancelled at 40 % (its partial file removed), and
an upload still running at 60 %. No hostname, no wall clock.
"""

from __future__ import annotations

import threading
from pathlib import Path

from textual.pilot import Pilot

from kvmtui.backend.errors import OperationError
from kvmtui.backend.jobs import JobContext, JobRegistry
from kvmtui.backend.model import ConnectionState
from kvmtui.screens.jobs import JobsScreen
from kvmtui.tui.app import KvmtuiApp, make_app
from tests.pilot import wait_for

NODE_URI = f"test://{Path(__file__).parent.parent / 'tests' / 'data' / 'storage-node.xml'}"
MIB = 1024**2
HOST = "test:storage-node"


class StepClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def sending(ctx: JobContext, clock: StepClock, total: int, steps: list[int]) -> None:
    """Progress at one step a second."""
    ctx.phase("sending")
    for done in steps:
        ctx.progress(done, total)
        clock.now += 1


def run_jobs(registry: JobRegistry, clock: StepClock) -> None:
    """The four jobs, one after the other, each at its own fixed times."""

    def uploaded(ctx: JobContext) -> str:
        sending(ctx, clock, 200 * MIB, [0, 50 * MIB, 100 * MIB, 150 * MIB, 200 * MIB])
        return (
            f"Uploaded debian.qcow2 to pool 'images' on {HOST} as 'debian.qcow2': qcow2, "
            "10 GiB disk, 200 MiB sent in 4.0 s (50 MiB/s)."
        )

    def refused(ctx: JobContext) -> str:
        ctx.phase("checking")
        clock.now += 1
        raise OperationError(
            f"Could not upload big.raw into pool 'bulk' on {HOST}: the file needs 300 GiB and "
            "the pool has 50 GiB available. Free space in the pool or choose another."
        )

    reached = threading.Event()

    def cancelled(ctx: JobContext) -> str:
        ctx.phase("receiving")
        ctx.cleanup("the partial file /srv/backup/.app-1.qcow2.x1.part", lambda: None)
        for done in (0, 400 * MIB, 800 * MIB):
            ctx.progress(done, 2000 * MIB)
            clock.now += 2
        reached.set()
        while True:
            ctx.check_cancel()
            threading.Event().wait(0.01)

    for body, title in (
        (uploaded, "Upload debian.qcow2 to pool 'images' as 'debian.qcow2'"),
        (refused, "Upload big.raw to pool 'bulk' as 'big.raw'"),
    ):
        view = registry.start(HOST, title, body)
        assert registry.wait(view.id, 10) is not None
    view = registry.start(
        HOST, "Download 'app-1.qcow2' from pool 'images' to /srv/backup/app-1.qcow2", cancelled
    )
    assert reached.wait(10)
    registry.cancel(view.id)
    assert registry.wait(view.id, 10) is not None

    moving = threading.Event()

    def running(ctx: JobContext) -> str:
        sending(ctx, clock, 200 * MIB, [0, 40 * MIB, 80 * MIB])
        ctx.progress(120 * MIB, 200 * MIB)
        ctx.cleanup("the partial volume 'scratch-2.raw' in pool 'images'", lambda: None)
        moving.set()
        while True:  # until the app quits and cancels it
            ctx.check_cancel()
            threading.Event().wait(0.01)

    registry.start(HOST, "Upload scratch-2.raw to pool 'images' as 'scratch-2.raw'", running)
    assert moving.wait(10)
    clock.now += 1


def build() -> KvmtuiApp:
    clock = StepClock()
    registry = JobRegistry(clock=clock, min_interval=0.0)
    run_jobs(registry, clock)
    app = make_app(
        [NODE_URI], clock=lambda: 1_700_000_000.0, retry_delays=(3600.0,), stats=False,
        jobs=registry,
    )  # fmt: skip
    app.animation_level = "none"
    return app


async def open_jobs(pilot: Pilot[None]) -> None:
    """J once the node answers; waits for the four rows and the first one focused."""
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    host = app.hosts[0]
    await wait_for(pilot, lambda: host.status.state is ConnectionState.CONNECTED, "the node")
    await pilot.press("J")
    await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen), "the jobs screen")
    screen = app.screen
    assert isinstance(screen, JobsScreen)
    await wait_for(pilot, lambda: len(screen.rows) == 4, "four jobs")
    await wait_for(pilot, lambda: screen.check_action("cancel_job", ()), "the cancel key")
    app.clear_notifications()
    await pilot.pause()


def test_jobs_screen(snap_compare) -> None:
    """J: "Jobs", then "test:storage-node: 1 running, 3 finished". First (focused,
    highlighted) the running upload of scratch-2.raw: bar at 60%, "sending · 120 MiB of
    200 MiB · 40 MiB/s · 2 s left · 4 s so far". Then the download of app-1.qcow2 in yellow
    "cancelled", bar at 40%, "cancelled · 800 MiB of 2.0 GiB · 6 s taken", outcome "...:
    cancelled. Removed the partial file /srv/backup/.app-1.qcow2.x1.part.". Then the upload
    of big.raw "failed" in red with no bar, the sentence in red ("the file needs 300 GiB
    and the pool has 50 GiB available..."). Last the upload of debian.qcow2 "done" in green,
    bar full at 100%, "done · 200 MiB of 200 MiB · 5 s taken" and its "Uploaded ..."
    sentence. The footer offers c Cancel job."""

    assert snap_compare(build(), terminal_size=(100, 34), run_before=open_jobs)


def test_jobs_screen_at_80x24(snap_compare) -> None:
    """The same four jobs at 80x24: headings, bars and sentences wrap within the width;
    the list scrolls (the running upload at the top, its bar at 60%), the footer shows
    esc Back and c Cancel job."""

    assert snap_compare(build(), terminal_size=(80, 24), run_before=open_jobs)
