"""The app against a real libvirtd and real tiny guests, driven with the Pilot.

Each test builds the real app with ``make_app`` on qemu:///system and checks both what
the table shows and what libvirt reports for the guest.
"""

from __future__ import annotations

import subprocess
import time

import libvirt
import pytest

from kvmtui.backend.model import GuestState
from kvmtui.screens.confirm import ConfirmScreen
from tests.harness.guests import GuestFactory
from tests.pilot import build_app, loaded, row_state, run_async, select, wait_for

pytestmark = pytest.mark.daemon

#: Real guests under TCG on a busy 2-core machine: generous, but still a deadline.
BOOT_S = 60.0


def libvirt_state(dom: libvirt.virDomain) -> int:
    return int(dom.state()[0])


@run_async
async def test_start_key_boots_a_real_guest(daemon_uri: str, guest_factory: GuestFactory) -> None:
    dom = guest_factory(start=False)
    app = build_app(daemon_uri, clock=time.time, retry_delays=None)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await loaded(pilot)
        await wait_for(pilot, lambda: row_state(screen.table, dom.name()), "the new guest's row")
        assert row_state(screen.table, dom.name()) is GuestState.SHUTOFF
        await select(pilot, screen.table, dom.name())
        await pilot.press("s")
        await wait_for(
            pilot,
            lambda: row_state(screen.table, dom.name()) is GuestState.RUNNING,
            "the guest to run",
            BOOT_S,
        )
        assert dom.isActive()


@run_async
async def test_pause_resume_then_force_off_only_after_confirming(
    daemon_uri: str, booted_guest: libvirt.virDomain
) -> None:
    dom = booted_guest
    name = dom.name()
    app = build_app(daemon_uri, clock=time.time, retry_delays=None)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await loaded(pilot)
        await wait_for(pilot, lambda: row_state(screen.table, name), "the guest's row")
        await select(pilot, screen.table, name)

        await pilot.press("p")
        await wait_for(
            pilot, lambda: row_state(screen.table, name) is GuestState.PAUSED, "paused", 20
        )
        assert libvirt_state(dom) == libvirt.VIR_DOMAIN_PAUSED
        await pilot.press("p")
        await wait_for(
            pilot, lambda: row_state(screen.table, name) is GuestState.RUNNING, "running", 20
        )
        assert libvirt_state(dom) == libvirt.VIR_DOMAIN_RUNNING

        # Force off asks first; "no" changes nothing.
        await pilot.press("F")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen, "the question to close")
        await app.workers.wait_for_complete()
        assert dom.isActive()
        assert row_state(screen.table, name) is GuestState.RUNNING

        await pilot.press("F")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await wait_for(
            pilot, lambda: row_state(screen.table, name) is GuestState.SHUTOFF, "shut off", 20
        )
        state, reason = dom.state()
        assert (state, reason) == (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED)


@run_async
async def test_shutdown_key_powers_the_guest_off(
    daemon_uri: str, booted_guest: libvirt.virDomain
) -> None:
    """h asks the guest OS (agent, else ACPI); the guest powers itself off."""
    dom = booted_guest
    app = build_app(daemon_uri, clock=time.time, retry_delays=None)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await loaded(pilot)
        await wait_for(pilot, lambda: row_state(screen.table, dom.name()), "the guest's row")
        await select(pilot, screen.table, dom.name())
        await pilot.press("h")
        await wait_for(
            pilot,
            lambda: row_state(screen.table, dom.name()) is GuestState.SHUTOFF,
            "the guest to power off",
            BOOT_S,
        )
        state, reason = dom.state()
        assert (state, reason) == (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN)


@run_async
async def test_a_change_made_with_virsh_shows_within_a_second(
    daemon_uri: str, booted_guest: libvirt.virDomain
) -> None:
    """Driven by libvirt events, not by a poll: virsh in another terminal, seen at once."""
    name = booted_guest.name()
    app = build_app(daemon_uri, clock=time.time, retry_delays=None)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await loaded(pilot)
        await wait_for(
            pilot, lambda: row_state(screen.table, name) is GuestState.RUNNING, "running row"
        )
        for command, state in (("suspend", GuestState.PAUSED), ("resume", GuestState.RUNNING)):
            subprocess.run(
                ["virsh", "-q", "-c", daemon_uri, command, name],
                check=True,
                stdin=subprocess.DEVNULL,
                capture_output=True,
            )
            done = time.monotonic()
            await wait_for(pilot, lambda s=state: row_state(screen.table, name) is s, f"{state}", 5)
            seen_after = time.monotonic() - done
            assert seen_after < 1.0, f"virsh {command} took {seen_after:.2f} s to show"


def test_acpi_shutdown_through_the_backend(
    daemon_uri: str, booted_guest: libvirt.virDomain
) -> None:
    """ShutdownMode.ACPI presses the power button; the guest's acpid powers it off."""
    from kvmtui.backend import lifecycle
    from kvmtui.backend.host import Host
    from tests.waiting import wait_for as wait_until

    host = Host(daemon_uri)
    host.start()
    try:
        assert host.wait_connected(10)
        lifecycle.shutdown(host, booted_guest.UUIDString(), lifecycle.ShutdownMode.ACPI)
        wait_until(
            lambda: (
                (g := host.guest(booted_guest.UUIDString())) is not None
                and g.state is GuestState.SHUTOFF
            ),
            BOOT_S,
            what="ACPI shutdown",
        )
    finally:
        host.stop()
