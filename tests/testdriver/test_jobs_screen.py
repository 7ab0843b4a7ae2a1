"""The jobs screen on libvirt's test:/// driver: empty, it says how to start a job; the
cancel key follows the selected job; closing it leaves nothing registered."""

from __future__ import annotations

import threading

from textual.widgets import Static

from kvmtui.backend.jobs import JobContext, JobState
from kvmtui.screens.jobs import EMPTY, JobsScreen
from kvmtui.tui.app import make_app
from tests.pilot import run_async, wait_for


@run_async
async def test_empty_then_a_job_appears_and_its_cancel_key_follows_it(test_node_uri: str) -> None:
    app = make_app([test_node_uri], stats=False)
    release = threading.Event()

    def body(ctx: JobContext) -> str:
        ctx.phase("sending")
        ctx.progress(1, 4)
        while not release.wait(0.01):
            ctx.check_cancel()
        return "done"

    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.hosts[0].connected, "the node")
        await pilot.press("J")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen), "the jobs screen")
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        empty = screen.query_one("#jobs-empty", Static)
        assert empty.display and str(empty.render()) == EMPTY
        assert screen.check_action("cancel_job", ()) is None

        view = app.jobs.start(app.hosts[0].label, "Copy", body)
        await wait_for(pilot, lambda: len(screen.rows) == 1, "the job's row")
        await wait_for(pilot, lambda: screen.selected is not None, "the row selected")
        assert not empty.display
        assert screen.check_action("cancel_job", ()) is True
        release.set()
        await wait_for(pilot, lambda: screen.rows[0].view.state is JobState.DONE, "the end")
        assert screen.check_action("cancel_job", ()) is None, "an ended job has no cancel"
        assert app.jobs.get(view.id) is not None

        await pilot.press("escape")
        await wait_for(pilot, lambda: screen not in app.screen_stack, "the screen closed")
        assert app.jobs.listener_count == 1, "only the app listens to the registry"
