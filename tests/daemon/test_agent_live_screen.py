"""The agent screen in the real app against the real qemu-ga, driven with the Pilot.

The app is built with ``make_app`` on qemu:///system; the agent's state on screen
follows the host's agent-lifecycle events. Every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import libvirt
import pytest
from textual.pilot import Pilot

from kvmtui.backend.agent import AgentUnavailableError
from kvmtui.backend.agent_info import AgentState
from kvmtui.screens.agent import AgentScreen
from tests.daemon.test_agent_daemon import serial_command, xml_mac
from tests.harness.guest_files import HOSTNAME
from tests.pilot import build_app, loaded, run_async, wait_for
from tests.testdriver.test_agent_screen import answer, exec_confirmed, output, section, state_line

pytestmark = pytest.mark.daemon

STEP_S = 30.0  # a busy 2-core machine running TCG guests
LIMIT_S = 3.0


@contextlib.asynccontextmanager
async def agent_screen(
    daemon_uri: str,
    dom: libvirt.virDomain,
    limit_s: float = LIMIT_S,
    size: tuple[int, int] = (140, 60),
) -> AsyncIterator[tuple[Pilot[None], AgentScreen]]:
    """The real app (140x60) with ``dom``'s agent screen open, its panel read."""
    app = build_app(daemon_uri, stats=False, clock=time.time, retry_delays=None)
    app.animation_level = "none"
    async with app.run_test(size=size) as pilot:
        await loaded(pilot, timeout=STEP_S)
        host = app.hosts[0]
        await wait_for(pilot, lambda: host.guest(dom.UUIDString()) is not None, "the guest", STEP_S)
        screen = AgentScreen(host, dom.UUIDString(), limit_s=limit_s)
        app.push_screen(screen)
        await wait_for(pilot, lambda: screen.panel is not None, "the panel", STEP_S)
        yield pilot, screen


@run_async
async def test_panel_exec_and_a_stopped_agent(
    daemon_uri: str, booted_guest: libvirt.virDomain
) -> None:
    dom = booted_guest
    async with agent_screen(daemon_uri, dom) as (pilot, screen):
        assert screen.state is AgentState.CONNECTED
        assert "Agent connected · qemu-ga 7.2" in state_line(screen)
        system = section(screen, "system")
        assert HOSTNAME in system and "kvmtui tiny guest" in system and "1 of 1" in system
        assert "UTC" in section(screen, "clock") and "host" in section(screen, "clock")
        assert xml_mac(dom) in section(screen, "interfaces")
        assert "/dev/vda" in section(screen, "disks")
        assert "No disk-backed filesystem is mounted." in section(screen, "filesystems")
        assert "Nobody is logged in." in section(screen, "users")

        # Run uname -r through the keys: form, question, answer.
        await exec_confirmed(pilot, "uname -r")
        await wait_for(pilot, lambda: "exit code 0" in output(screen), "uname's result", STEP_S)
        assert "-cloud-amd64" in output(screen)

        # The agent stops inside the guest: the state follows the event; ping fails fast.
        serial_command(dom, "kill -9 $(pidof qemu-ga)", "killed")
        await wait_for(
            pilot, lambda: screen.state is AgentState.DISCONNECTED, "the disconnect", STEP_S
        )
        assert "Agent disconnected" in state_line(screen)
        assert screen.check_action("ping", ()) is None
        # Refreshing reads the XML: still disconnected; asking the agent directly fails
        # with a sentence well within the limit.
        await pilot.press("r")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.state is AgentState.DISCONNECTED
        started = time.monotonic()
        with pytest.raises(AgentUnavailableError, match="not connected") as failed:
            screen.agent.ping()
        assert time.monotonic() - started < LIMIT_S
        assert "qemu-ga" in str(failed.value)


@run_async
async def test_shutdown_key_stops_the_guest(
    daemon_uri: str, booted_guest: libvirt.virDomain
) -> None:
    dom = booted_guest
    async with agent_screen(daemon_uri, dom) as (pilot, screen):
        await pilot.press("s")
        await answer(pilot, "y")
        await wait_for(
            pilot, lambda: screen.state is AgentState.NOT_RUNNING, "the guest to stop", 60
        )
        assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
        assert "Asked the guest to power off through its agent." in output(screen)
