"""The clone form's flow on libvirt's test:/// driver (tests/data/storage-node.xml): C on a
running guest offers a shutdown instead; on the shut-off "build" it opens the form with
the name prefilled; a taken name is refused as typed; submitting runs the clone as a job
and the new guest appears in the list; read-only disables C."""

from __future__ import annotations

from kvmtui.backend.jobs import JobState
from kvmtui.backend.model import GuestState
from kvmtui.screens.clone_form import CloneFormScreen
from kvmtui.screens.confirm import ConfirmScreen
from tests.pilot import (
    STORAGE_NODE_URI,
    build_app,
    loaded,
    row_state,
    run_async,
    select,
    wait_for,
)


async def open_form(pilot, screen, name: str = "build") -> CloneFormScreen:  # type: ignore[no-untyped-def]
    await select(pilot, screen.table, name)
    await pilot.press("C")
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, CloneFormScreen), "the form")
    form = app.screen
    assert isinstance(form, CloneFormScreen)
    await wait_for(pilot, lambda: form.source is not None, "the source read", 15)
    return form


async def job_done(pilot) -> None:  # type: ignore[no-untyped-def]
    """The one job (the clone) has ended, and well."""
    jobs = pilot.app.jobs
    await wait_for(pilot, lambda: any(j.finished for j in jobs.jobs()), "the job", 15)
    (job,) = jobs.jobs()
    assert job.state is JobState.DONE, job.outcome


@run_async
async def test_clone_of_a_shut_off_guest_runs_as_a_job_and_appears() -> None:
    app = build_app(STORAGE_NODE_URI, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        form = await open_form(pilot, screen)
        assert form.query_one("#clone-name").value == "build-clone"
        assert "vda: build.qcow2 in images, qcow2 60 GiB, copied" in form.disks_text
        await pilot.press("ctrl+a", "ctrl+k", *"app-1")
        await wait_for(pilot, lambda: "already has a guest named 'app-1'" in form.error_text,
                       "the clash")  # fmt: skip
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is form, "a taken name must not submit"
        await pilot.press("ctrl+a", "ctrl+k", *"build-copy", "enter")
        await wait_for(pilot, lambda: app.screen is screen, "the list again")
        await job_done(pilot)
        await wait_for(
            pilot, lambda: any(g.name == "build-copy" for g in screen.table.guests_of(
                "test:storage-node")), "the new row", 15
        )  # fmt: skip


@run_async
async def test_c_on_a_running_guest_offers_a_shutdown_instead() -> None:
    app = build_app(STORAGE_NODE_URI, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        await select(pilot, screen.table, "app-1")
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert isinstance(app.screen, ConfirmScreen)
        assert "needs a shut-off guest" in app.screen.question
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen, "the list again")


@run_async
async def test_read_only_disables_clone() -> None:
    app = build_app(STORAGE_NODE_URI, readonly=True, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        await select(pilot, screen.table, "build")
        assert screen.check_action("clone", ()) is None
        await pilot.press("C")
        await pilot.pause()
        assert app.screen is screen


@run_async
async def test_linked_clone_then_start_of_the_base_asks_and_yes_starts_it() -> None:
    app = build_app(STORAGE_NODE_URI, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        form = await open_form(pilot, screen)
        form.query_one("#mode-linked").value = True
        await wait_for(pilot, lambda: "becomes the base" in form.disks_text or
                       "become the base" in form.disks_text, "the linked plan")  # fmt: skip
        await pilot.press("ctrl+s")
        await job_done(pilot)
        await select(pilot, screen.table, "build")
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert isinstance(app.screen, ConfirmScreen)
        assert "base of linked clone build-clone" in app.screen.question
        await pilot.press("y")
        await wait_for(
            pilot, lambda: screen.table.selected_guest is not None
            and screen.table.selected_guest.state.active, "build running", 15
        )  # fmt: skip


@run_async
async def test_a_paused_guest_gets_a_warning_and_no_linked_clone() -> None:
    app = build_app(STORAGE_NODE_URI, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        await select(pilot, screen.table, "app-2")
        await pilot.press("p")
        await wait_for(pilot, lambda: row_state(screen.table, "app-2") is GuestState.PAUSED,
                       "paused")  # fmt: skip
        form = await open_form(pilot, screen, "app-2")
        warning = str(form.query_one("#clone-warning").render())
        assert "'app-2' is paused: its disks are copied as they are" in warning
        assert "Linked clone: not offered, the guest is paused" in warning
        assert form.query_one("#mode-linked").disabled
