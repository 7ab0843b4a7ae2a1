"""The details' seed detach (x) on libvirt's test:/// driver: for a guest without a
cloud-init seed, once the seed was looked for, x is hidden and does nothing, and the
Addresses section stays hidden (the test driver's guests report no address); for a guest
still marked for the automatic detach, x warns and escape detaches nothing."""

from __future__ import annotations

import libvirt
from textual.widgets import Button

from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.tui.widgets.guest_addresses import GuestAddressesSection
from tests.pilot import build_app, loaded, run_async, wait_for
from tests.testdriver.test_balloon_screen import URI, open_details
from tests.testdriver.test_seed_watch_testdriver import define_marked


@run_async
async def test_x_is_hidden_for_a_guest_without_a_seed() -> None:
    app = build_app(URI)
    async with app.run_test(size=(120, 40)) as pilot:
        details = await open_details(pilot, app, "silent")
        await wait_for(pilot, lambda: details.seed_read, "the seed looked for")
        section = details.query_one(GuestAddressesSection)
        await wait_for(pilot, lambda: section.addresses is not None, "the addresses read")
        assert details.seed is None
        assert details.check_action("detach_seed", ()) is False
        assert "x" not in app.active_bindings
        assert not section.display
        await pilot.press("x")
        assert app.screen is details


@run_async
async def test_x_warns_before_the_first_boot_ended_and_escape_detaches_nothing() -> None:
    """A guest the wizard made, still marked for the automatic detach (its first boot has
    not ended): x warns that cloud-init would lose the user and keys; the second
    question's n keeps the volume, and escape cancels the whole action, so nothing is
    detached. (test:/// cannot detach devices: the questions are what is tested here.)"""
    app = build_app(URI)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        define_marked(app.hosts[0].connection(), "fresh")
        await wait_for(pilot, lambda: any(g.name == "fresh" for g in app.hosts[0].guests()),
                       "the new guest listed")
        details = await open_details(pilot, app, "fresh")
        await wait_for(pilot, lambda: details.seed is not None, "the seed read")
        assert details.seed is not None and details.seed.first_boot_pending
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        question = app.screen
        assert isinstance(question, ConfirmScreen)
        assert "has not ended as far as kvmtui knows" in question.question
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen is not question
                       and isinstance(app.screen, ConfirmScreen), "the volume question")
        volume_question = app.screen
        assert isinstance(volume_question, ConfirmScreen)
        assert str(volume_question.query_one("#no", Button).label) == "Keep volume (n)"
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is details, "back to the details")
        assert any(n.message == "Nothing detached." for n in app._notifications)
        assert not any(w.group == "details-seed" for w in app.workers)
        dom = app.hosts[0].connection().lookupByName("fresh")
        assert "fresh-cidata.iso" in dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
