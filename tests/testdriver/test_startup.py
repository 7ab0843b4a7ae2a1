"""Start-up: the list from one bulk call, the missing figures after it is drawn, the
hosts connecting before the UI loads, and only the first screen's modules imported.

On libvirt's test:/// driver (tests/data/node.xml), whose bulk statistics carry the
state group alone: its guests' vCPUs and memory are exactly the figures read later.
How fast start-up is, bench/startup_bench.py shows.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys

import libvirt

from kvmtui.backend.guests import fill_in_figures, list_guests
from kvmtui.backend.host import Host
from kvmtui.backend.model import ConnectionState, GuestsLoaded, HostChange
from kvmtui.screens.guests import GuestsScreen
from kvmtui.tui.app import app_for_hosts
from kvmtui.tui.widgets.guest_table import GuestTable
from tests.pilot import run_async, wait_for
from tests.waiting import wait_for as wait_until

#: db-replica in node.xml: 4 vCPUs, 4 GiB of 8 GiB.
DB_REPLICA = (4, 4194304, 8388608)


def _figures(guest: object) -> tuple[object, object, object]:
    return (guest.vcpus, guest.memory_kib, guest.max_memory_kib)  # type: ignore[attr-defined]


def test_listing_leaves_what_the_bulk_call_lacks_unknown_and_reads_it_after(
    test_node_uri: str,
) -> None:
    conn = libvirt.openReadOnly(test_node_uri)
    try:
        listing = list_guests("node", conn)
        by_name = {g.name: g for g in listing.guests}
        assert len(by_name) == 13
        assert [g.name for g in listing.guests] == sorted(by_name)
        replica = by_name["db-replica"]
        assert replica.state.value == "paused", "the state comes with the list"
        assert _figures(replica) == (None, None, None) and not replica.figures_known
        assert {g.uuid for _dom, g in listing.incomplete} == {g.uuid for g in listing.guests}

        filled = {g.name: g for g in fill_in_figures(listing.incomplete)}
        assert _figures(filled["db-replica"]) == DB_REPLICA
        assert all(g.figures_known for g in filled.values())
    finally:
        conn.close()


def test_a_held_host_lists_its_guests_and_reads_their_figures_when_released(
    test_node_uri: str,
) -> None:
    changes: list[HostChange] = []
    host = Host(test_node_uri, readonly=True, listener=changes.append)
    host.hold_figures()
    host.start()
    try:
        wait_until(lambda: host.status.state is ConnectionState.CONNECTED, what="connected")
        wait_until(lambda: len(host.guests()) == 13, what="the list")
        assert host.figures_pending
        assert not host.wait_connected(0.2), "complete only once the figures are in"
        assert all(not g.figures_known for g in host.guests())
        lists = [c for c in changes if isinstance(c, GuestsLoaded)]
        assert len(lists) == 1 and len(lists[0].guests) == 13

        host.release_figures()
        assert host.wait_connected(10)
        assert not host.figures_pending
        replica = next(g for g in host.guests() if g.name == "db-replica")
        assert _figures(replica) == DB_REPLICA
        wait_until(lambda: len([c for c in changes if isinstance(c, GuestsLoaded)]) == 2)
        second = [c for c in changes if isinstance(c, GuestsLoaded)][1]
        assert all(g.figures_known for g in second.guests), "the list again, complete"
    finally:
        host.stop()


@run_async
async def test_hosts_started_before_the_app_show_their_list_and_then_their_figures(
    test_node_uri: str,
) -> None:
    """As the console script runs it: hosts connect before the UI is built (the app
    misses their first reports) and garbage collection is paused until the lists are
    drawn; the list shows, then vCPUs and memory, the statistics start, and
    collection comes back."""
    host = Host(test_node_uri, readonly=True)
    host.hold_figures()
    host.start()
    assert host.wait_connected(0.01) is False
    wait_until(lambda: len(host.guests()) == 13, what="the host to list before the app")
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        app = app_for_hosts([host], delay=0.2)
        app.animation_level = "none"
        async with app.run_test(size=(160, 30)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, GuestsScreen), "the list")
            table = app.screen.query_one(GuestTable)
            await wait_for(pilot, lambda: table.row_count == 13, "13 rows")
            await wait_for(
                pilot,
                lambda: all(g.figures_known for g in table.all_guests()),
                "vCPUs and memory in the rows",
            )
            replica = next(g for g in table.all_guests() if g.name == "db-replica")
            assert _figures(replica) == DB_REPLICA
            assert "4.0/8.0 GiB" in table.row_text(replica.key)
            await wait_for(pilot, lambda: table.stats_tick(host.label) is not None, "a tick")
            assert gc.isenabled(), "collection resumes once the lists are drawn"
    finally:
        if was_enabled:
            gc.enable()
        host.stop()


def test_the_first_screen_imports_none_of_the_screens_behind_keys() -> None:
    """A fresh interpreter: the console script's module loads no UI, the app's module
    loads the guest list and no screen that only a key opens, nor pyte, nor the XML
    reader, nor importlib.metadata (read for --version only)."""
    probe = (
        "import json, sys\n"
        "import kvmtui.tui.cli\n"
        "cli = set(sys.modules)\n"
        "import kvmtui.tui.app\n"
        "print(json.dumps([sorted(cli), sorted(sys.modules)]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    after_cli, after_app = (set(names) for names in json.loads(out))
    assert not {m for m in after_cli if m == "textual" or m.startswith("textual.")}
    assert "importlib.metadata" not in after_app
    assert "kvmtui.screens.guests" in after_app
    behind_keys = {
        "kvmtui.screens.details",
        "kvmtui.screens.agent",
        "kvmtui.screens.console",
        "kvmtui.screens.throttle",
        "kvmtui.screens.throttle_many",
        "kvmtui.screens.ksm",
        "kvmtui.screens.storage",
        "kvmtui.screens.host",
        "kvmtui.screens.help",
        "kvmtui.screens.confirm",
        "kvmtui.screens.delay",
        "kvmtui.screens.jobs",
        "kvmtui.screens.snapshots",
        "kvmtui.screens.new_guest",
        "kvmtui.backend.snapshots",
        "kvmtui.backend.create",
        "kvmtui.backend.osinfo",
        "kvmtui.backend.ksm",
        "kvmtui.backend.storage",
        "kvmtui.backend.throttle",
        "kvmtui.backend.agent",
        "kvmtui.backend.seed_watch",  # started once the first lists are drawn
        "kvmtui.backend.domain",
        "kvmtui.backend.domain.layout",
        "pyte",
        "textual_image",  # only with --graphics kitty or sixel (it questions the terminal)
        "lxml",
        "xml.etree.ElementTree",
    }
    assert not behind_keys & after_app, sorted(behind_keys & after_app)
