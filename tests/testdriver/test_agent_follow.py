"""The agent panel follows its guest to another host (a migration), on the test:/// driver.

Two connections to the same node file are two hosts holding the same guests (same
UUIDs), as after a migration: the guest undefined on the first while the second lists
it running is what the panel sees when its guest migrates. The real migration between
two daemons is in tests/daemon/test_migrate_daemon.py.
"""

from __future__ import annotations

import pytest

from kvmtui.backend import lifecycle
from kvmtui.backend.agent_info import AgentState
from kvmtui.backend.host import Host
from kvmtui.screens import agent as agent_screen
from kvmtui.screens.agent import AgentScreen
from tests.agent_replay import RecordedAgent
from tests.pilot import build_app, loaded, run_async, wait_for
from tests.testdriver.test_agent_screen import WEB, output, state_line


def _undefine(host: Host, uuid: str) -> None:
    lifecycle.force_off(host, uuid)
    lifecycle.undefine(host, uuid)


@run_async
async def test_the_panel_follows_the_guest_to_the_host_that_runs_it(test_node_uri: str) -> None:
    app = build_app(test_node_uri, test_node_uri, stats=False)
    async with app.run_test(size=(120, 50)) as pilot:
        await loaded(pilot)
        source, dest = app.hosts
        await wait_for(pilot, lambda: dest.guest(WEB) is not None, "the second host's list")
        screen = AgentScreen(source, WEB, agent=RecordedAgent(source, WEB))
        app.push_screen(screen)
        await wait_for(pilot, lambda: screen.panel is not None, "the panel")
        await pilot.press("p")
        await wait_for(pilot, lambda: "answered" in output(screen), "the ping's answer")

        _undefine(source, WEB)  # it left the first host; the second runs it
        await wait_for(pilot, lambda: screen.host is dest, "the panel to follow the guest")
        assert screen.agent.host is dest and screen.guest_key == f"{dest.label}/{WEB}"
        assert "answered" in output(screen)  # the answer shown is kept
        # The second host's guest has no agent channel (the test driver's): read there.
        await wait_for(pilot, lambda: screen.state is AgentState.NO_CHANNEL, "its state there")
        assert f"Followed the guest from {source.label} to {dest.label}" in state_line(screen)
        assert f"on {dest.label}" in str(screen.query_one("#agent-heading").render())


@run_async
async def test_the_panel_says_when_the_guest_went_nowhere(
    test_node_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_screen, "FOLLOW_WAIT_S", 0.3)
    app = build_app(test_node_uri, test_node_uri, stats=False)
    async with app.run_test(size=(120, 50)) as pilot:
        await loaded(pilot)
        source, other = app.hosts
        await wait_for(pilot, lambda: other.guest(WEB) is not None, "the second host's list")
        lifecycle.force_off(other, WEB)  # defined there, but not running: not where it went
        screen = AgentScreen(source, WEB, agent=RecordedAgent(source, WEB))
        app.push_screen(screen)
        await wait_for(pilot, lambda: screen.panel is not None, "the panel")
        _undefine(source, WEB)
        await wait_for(pilot, lambda: "is gone" in state_line(screen), "the gone sentence")
        assert screen.host is source
        line = state_line(screen)
        assert f"no longer defined on {source.label}" in line and "no other host" in line
