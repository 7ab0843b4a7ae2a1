"""The details of a guest without a cloud-init seed, on libvirt's test:/// driver: once
the seed was looked for, x (detach seed) is hidden and does nothing, and the Addresses
section stays hidden (the test driver's guests report no address)."""

from __future__ import annotations

from kvmtui.tui.widgets.guest_addresses import GuestAddressesSection
from tests.pilot import build_app, run_async, wait_for
from tests.testdriver.test_balloon_screen import URI, open_details


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
