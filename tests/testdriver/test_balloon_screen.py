"""b on the details screen sets the balloon's statistics period, on libvirt's test:///
driver (tests/data/balloon_node.xml): a bad value says why and changes nothing, a good
one changes the running guest and shows in the facts; read-only and a guest without a
balloon grey the key out."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Checkbox, Input

from kvmtui.screens.balloon import BalloonPeriodScreen
from kvmtui.screens.details import DetailsScreen
from kvmtui.tui.app import KvmtuiApp
from kvmtui.tui.widgets.guest_facts import GuestFacts
from tests.pilot import build_app, loaded, run_async, select, wait_for
from tests.testdriver.test_agent_screen import plain
from tests.testdriver.test_balloon import NODE, periods

URI = f"test://{NODE.resolve()}"


async def open_details(pilot: Pilot[None], app: KvmtuiApp, name: str) -> DetailsScreen:
    screen = await loaded(pilot)
    await select(pilot, screen.table, name)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), "details")
    details = app.screen
    assert isinstance(details, DetailsScreen)
    await wait_for(pilot, lambda: details.domain_layout is not None, "the guest's devices")
    return details


async def ask(pilot: Pilot[None], app: KvmtuiApp) -> BalloonPeriodScreen:
    """Press b on the details screen: the question."""
    await pilot.press("b")
    await wait_for(pilot, lambda: isinstance(app.screen, BalloonPeriodScreen), "question")
    question = app.screen
    assert isinstance(question, BalloonPeriodScreen)
    return question


def facts_text(details: DetailsScreen) -> str:
    facts = details.query_one(GuestFacts)
    return plain(facts.render_guest(facts.guest))


@run_async
async def test_b_sets_the_period_of_the_running_guest() -> None:
    app = build_app(URI)
    async with app.run_test(size=(120, 40)) as pilot:
        details = await open_details(pilot, app, "silent")
        uuid = details.guest.uuid
        await wait_for(pilot, lambda: "not reported" in facts_text(details), "the facts")
        question = await ask(pilot, app)
        assert not question.query_one(Checkbox).value, "live only unless asked"
        question.query_one(Input).value = "soon"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Nothing was changed" in question.error_text, "refusal")
        assert "'soon' is not a whole number of seconds" in question.error_text
        assert app.screen is question
        assert periods(app.hosts[0], uuid) == (None, None)

        question.query_one(Input).value = "3"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is details, "back to the details")
        await wait_for(pilot, lambda: "every 3 s" in facts_text(details), "the new period")
        assert periods(app.hosts[0], uuid) == (3, None)


@run_async
async def test_the_box_keeps_the_period_in_the_saved_configuration() -> None:
    app = build_app(URI)
    async with app.run_test(size=(120, 40)) as pilot:
        details = await open_details(pilot, app, "silent")
        question = await ask(pilot, app)
        question.query_one(Checkbox).value = True
        question.query_one(Input).value = "8"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "every 8 s" in facts_text(details), "the new period")
        assert periods(app.hosts[0], details.guest.uuid) == (8, 8)


@run_async
async def test_a_shut_off_guest_is_asked_about_its_saved_configuration_only() -> None:
    app = build_app(URI)
    async with app.run_test(size=(120, 40)) as pilot:
        details = await open_details(pilot, app, "stopped")
        question = await ask(pilot, app)
        assert not question.query(Checkbox), "no choice: only the saved configuration"
        question.query_one(Input).value = "6"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "every 6 s" in facts_text(details), "the new period")
        assert periods(app.hosts[0], details.guest.uuid) == (None, 6)


@run_async
async def test_escape_changes_nothing() -> None:
    app = build_app(URI)
    async with app.run_test(size=(120, 40)) as pilot:
        details = await open_details(pilot, app, "reporting")
        await ask(pilot, app)
        await pilot.press("0", "escape")
        await wait_for(pilot, lambda: app.screen is details, "back to the details")
        await app.workers.wait_for_complete()
        assert periods(app.hosts[0], details.guest.uuid) == (2, 2)


@run_async
async def test_read_only_and_no_balloon_grey_the_key_out() -> None:
    app = build_app(URI, readonly=True)
    async with app.run_test(size=(120, 40)) as pilot:
        details = await open_details(pilot, app, "silent")
        assert details.check_action("stats_period", ()) is None
        assert details.stats_period_reason() == "read-only connection"
        await pilot.press("b")
        await pilot.pause()
        assert app.screen is details, "no question on a read-only connection"
    app = build_app(URI)
    async with app.run_test(size=(120, 40)) as pilot:
        details = await open_details(pilot, app, "no-balloon")
        assert details.stats_period_reason() == "the guest has no balloon device"
        assert "no balloon device" in facts_text(details)
        await pilot.press("b")
        await pilot.pause()
        assert app.screen is details, "no question for a guest without a balloon"
