"""Several hosts in one list: the real daemon twice (unix socket and TCP) plus a test:/// node.

The fault tests stop the shared libvirtd, so they are marked ``disruptive`` and run after
every other test (see the top-level conftest.py); they always start it again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import libvirt
import pytest

from kvmtui.backend.model import ConnectionState, GuestState
from kvmtui.tui.app import KvmtuiApp
from tests.harness import daemon
from tests.harness.guests import GuestFactory
from tests.pilot import build_app, loaded, row_state, run_async, select, wait_for

pytestmark = pytest.mark.daemon

LOCAL, TCP, NODE = "localhost", "127.0.0.1", "test:node"
#: Reconnect quickly in tests; the app's default back-off is 1, 2, 4, 8, then 15 s.
FAST_RETRY = (0.2, 0.5, 1.0)


def host_of(app: KvmtuiApp, label: str):  # type: ignore[no-untyped-def]
    return next(h for h in app.hosts if h.label == label)


@pytest.fixture
def daemon_restored() -> Iterator[None]:
    """Whatever happens in the test, libvirtd answers again afterwards."""
    yield
    daemon.ensure_daemon()


@run_async
async def test_one_list_across_three_hosts(
    daemon_uri: str, tcp_uri: str, test_node_uri: str, guest_factory: GuestFactory
) -> None:
    dom = guest_factory(start=False)
    name = dom.name()
    app = build_app(daemon_uri, tcp_uri, test_node_uri, clock=time.time, retry_delays=FAST_RETRY)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        assert [h.label for h in app.hosts] == [LOCAL, TCP, NODE]
        # The same real guest is listed once per connection, with its host in the row.
        await wait_for(pilot, lambda: row_state(screen.table, name, LOCAL), "local row")
        await wait_for(pilot, lambda: row_state(screen.table, name, TCP), "TCP row")
        assert row_state(screen.table, "web-frontend-1", NODE) is GuestState.RUNNING
        # Started over TCP: libvirt's events tell both connections.
        await select(pilot, screen.table, name, TCP)
        await pilot.press("s")
        for label in (TCP, LOCAL):
            await wait_for(
                pilot,
                lambda label=label: row_state(screen.table, name, label) is GuestState.RUNNING,
                f"running on {label}",
                60,
            )
        assert dom.isActive()


@pytest.mark.disruptive
@run_async
async def test_daemon_stopped_then_back_while_the_app_runs(
    daemon_uri: str,
    tcp_uri: str,
    test_node_uri: str,
    guest_factory: GuestFactory,
    daemon_restored: None,
) -> None:
    """libvirtd goes away: its hosts say so, the test node stays live; it comes back by itself."""
    dom = guest_factory(start=True)
    name = dom.name()
    app = build_app(daemon_uri, tcp_uri, test_node_uri, clock=time.time, retry_delays=FAST_RETRY)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        await wait_for(
            pilot, lambda: row_state(screen.table, name, LOCAL) is GuestState.RUNNING, "running"
        )

        daemon.stop_daemon()
        for label in (LOCAL, TCP):
            host = host_of(app, label)
            await wait_for(
                pilot,
                lambda host=host: host.status.state is ConnectionState.DISCONNECTED,
                f"{label} to show disconnected",
            )
            shown = screen.status_bar.line(label)
            assert shown is not None
            await wait_for(
                pilot,
                lambda shown=shown: "disconnected since" in str(shown.content),
                f"{label}'s status line to say disconnected",
            )
            # The host thread hands over the status, then the rows: wait for the rows too.
            await wait_for(
                pilot,
                lambda label=label: row_state(screen.table, name, label) is GuestState.UNKNOWN,
                f"{name} on {label} to show unknown",
            )
        assert app.is_running

        # The other host is untouched: still connected, and actions on it work.
        assert host_of(app, NODE).status.state is ConnectionState.CONNECTED
        await select(pilot, screen.table, "build-runner", NODE)
        await pilot.press("s")
        await wait_for(
            pilot,
            lambda: row_state(screen.table, "build-runner", NODE) is GuestState.RUNNING,
            "build-runner to start while libvirtd is down",
        )

        daemon.start_daemon()
        for label in (LOCAL, TCP):
            host = host_of(app, label)
            await wait_for(
                pilot,
                lambda host=host: host.status.state is ConnectionState.CONNECTED,
                f"{label} to reconnect",
                30,
            )
            # The list is back, and the guest QEMU kept running while libvirtd was down.
            await wait_for(
                pilot,
                lambda label=label: row_state(screen.table, name, label) is GuestState.RUNNING,
                f"{name} back on {label}",
            )
        fresh = libvirt.open(daemon_uri)
        try:
            assert fresh.lookupByName(name).isActive()
        finally:
            fresh.close()
