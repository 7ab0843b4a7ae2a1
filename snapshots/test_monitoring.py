"""Snapshots of the statistics views, from recorded ticks replayed deterministically.

tests/data/recorded_stats.json holds one real tiny guest's counters, a tick a second
(idle, then a CPU loop, then a disk read with dd); tests/replay.py turns them into
ticks for every running guest of tests/data/node.xml, each guest a scaled copy (the
last running guest by name runs the recorded load, the others proportionally less).
No clock and no live polling: the same figures on every run.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from kvmtui.backend.model import ConnectionState
from kvmtui.screens.details import DetailsScreen
from kvmtui.screens.guests import GuestsScreen
from kvmtui.screens.host import HostScreen
from kvmtui.tui.app import KvmtuiApp
from kvmtui.tui.widgets.guest_stats import GuestGraphs
from tests.pilot import build_app, wait_for
from tests.replay import replay

#: Replay up to the disk read: the last tick has read rates.
TICKS = 13


pytestmark = pytest.mark.usefixtures("utc")


async def replayed(pilot: Pilot[None]) -> GuestsScreen:
    """The guest list once the host is connected and the last replayed tick is shown."""
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    await wait_for(pilot, lambda: isinstance(app.screen, GuestsScreen), "the guest list")
    screen = app.screen
    assert isinstance(screen, GuestsScreen)
    await wait_for(
        pilot,
        lambda: (
            app.hosts[0].status.state is ConnectionState.CONNECTED
            and screen.table.stats_tick("test:node") == TICKS - 1
        ),
        "the replayed ticks",
    )
    return screen


def test_list_with_statistics_sorted_by_cpu(snap_compare, test_node_uri: str) -> None:
    """130x30 after P: %CPU▼ in the header (accent colour), the cursor on the first row,
    win-desktop (the admin has not moved it, so it stays on top); the ten active guests sorted
    by %CPU from win-desktop (about 97 %, red) down to backup-agent (about 10 %), yellow
    from 50 %, each with an eight-point CPU hist sparkline rising at its left end (the
    loop started in the recording); %MEM about 14; RDBY/s shows the dd read in MiB (the
    busiest guests around 20-28 MiB); RX/TX 0 B (dim); TIME as M:SS; the three shut-off
    guests last with dashes. The summary line under the status line reads CPU 100.0%,
    mem used/total of the recording machine, vCPU 2.62x/3.50x in red, and
    mem 1.30x/1.59x in yellow (running/defined guests against the host)."""

    async def run_before(pilot: Pilot[None]) -> None:
        await replayed(pilot)
        await pilot.press("P")

    app = build_app(test_node_uri, stats=replay(TICKS))
    assert snap_compare(app, terminal_size=(130, 30), run_before=run_before)


def test_list_with_statistics_80x24(snap_compare, test_node_uri: str) -> None:
    """80x24 after P then B, the cursor on the first row (win-desktop): the columns that fit
    (Name, State, %CPU, %MEM, disk and net)
    with the disk titles switched to requests (RDRQ/s, WRRQ/s) and read requests per
    second shown for the busiest guests; Host, vCPUs, Memory, CPU hist, TIME and
    Autostart are dropped for width; names are not cut."""

    async def run_before(pilot: Pilot[None]) -> None:
        await replayed(pilot)
        await pilot.press("P", "B")

    app = build_app(test_node_uri, stats=replay(TICKS))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_details_with_graphs(snap_compare, test_node_uri: str) -> None:
    """Enter on db-primary at 110x40: the Guest facts with OS type "hvm i686" and memory
    stats "every 2 s (virtio balloon)", then History:
    CPU, Memory used, Disk read/write, Net receive/send, each a sparkline with now, min
    and max (CPU rises from about 0 to about 29 %, disk read shows the dd burst at the
    right end, write stays 0 B/s), then Disks and network: vda (the recorded disk) with
    its read bytes/s and requests/s, and the recorded NIC with its rates."""

    async def run_before(pilot: Pilot[None]) -> None:
        screen = await replayed(pilot)
        row = screen.table.shown_names().index("db-primary")
        screen.table.move_cursor(row=row)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DetailsScreen), "details")
        details = pilot.app.screen
        await wait_for(
            pilot,
            lambda: (
                details.query_one(GuestGraphs).ticks == TICKS
                and "reading" not in str(details.query_one(".section-body").render())
            ),
            "graphs and devices",
        )
        await pilot.pause()

    app = build_app(test_node_uri, stats=replay(TICKS))
    assert snap_compare(app, terminal_size=(110, 40), run_before=run_before)


def test_host_screen(snap_compare, test_node_uri: str) -> None:
    """H at 110x30: test:node's full status lines on top (connected, libvirt and TEST
    versions, 6 running / 13 guests; CPU 99.5%, memory and overcommit from the last
    replayed tick), then graphs for CPU, Memory used, Active (10: running, idle, paused,
    in shutdown, pmsuspended), disk and net
    sums with now/min/max, and the overcommit table: host 8 vCPUs and the recording
    machine's memory; active 10 guests, 21 vCPUs 2.62x (red), memory ratio 1.30x
    (yellow); defined 13 guests, 28 vCPUs 3.50x, 1.59x."""

    async def run_before(pilot: Pilot[None]) -> None:
        await replayed(pilot)
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HostScreen), "host screen")
        await pilot.pause()

    app = build_app(test_node_uri, stats=replay(TICKS))
    assert snap_compare(app, terminal_size=(110, 30), run_before=run_before)
