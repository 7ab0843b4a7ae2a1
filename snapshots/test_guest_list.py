"""Snapshots of the guest list on libvirt's test:/// driver (tests/data/node.xml).

Deterministic: a fixed clock rendered in UTC, no animations, no cursor blink, and every
shot waits for the hosts, rows and first statistics tick it shows. The test driver
reports no counters, so every statistics column shows a dash whatever the timing; the
host summary shows the overcommit of the node's guests. The status line prints the libvirt library
version of the machine running the tests (9.0.0 on the project's images).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from conftest import node_uri
from kvmtui.backend import lifecycle
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.details import DetailsScreen
from kvmtui.screens.help import HelpScreen
from kvmtui.tui.app import KvmtuiApp
from kvmtui.tui.widgets.guest_facts import GuestFacts
from tests.pilot import build_app, display_known, no_blink, ticked, wait_for

MISSING_URI = "test:///nonexistent/missing.xml"
ALL_GUESTS = 13
AWKWARD_NODE = Path(__file__).parent.parent / "tests" / "data" / "awkward_names_node.xml"


pytestmark = pytest.mark.usefixtures("utc")


def test_guest_list_80x24(snap_compare, test_node_uri: str) -> None:
    """The node at 80x24: the status line (connected, libvirt and TEST versions,
    6 running / 13 guests) and the summary line (CPU -, mem -/32.0 GiB: the test
    driver reports neither; vCPU 2.62x/3.50x in red, mem 0.95x/1.17x: running/defined);
    the columns that fit 80 (Name▲, State, %CPU, %MEM, RDBY/s, WRBY/s,
    RXBY/s, TXBY/s), statistics all dashes (the test driver has no counters); 13 rows
    sorted by name with coloured states (green running/idle, yellow paused and in
    shutdown, red crashed, dim shut off, cyan pmsuspended), db-replica and mail-relay
    show current/max memory, and the footer's
    keys fit on one line."""

    async def run_before(pilot: Pilot[None]) -> None:
        await ticked(pilot, ALL_GUESTS)

    assert snap_compare(build_app(test_node_uri), terminal_size=(80, 24), run_before=run_before)


def test_guest_list_160x50_autostart(snap_compare, test_node_uri: str) -> None:
    """The node at 160x50 with autostart set on db-primary and web-frontend-1 through the
    app's own connection: those two rows say "yes" in Autostart, the others "-", and the
    whole footer fits."""

    async def run_before(pilot: Pilot[None]) -> None:
        table = (await ticked(pilot, ALL_GUESTS)).table
        app = pilot.app
        assert isinstance(app, KvmtuiApp)
        host = app.hosts[0]
        for name in ("db-primary", "web-frontend-1"):
            guest = next(g for g in host.guests() if g.name == name)
            lifecycle.set_autostart(host, guest.uuid, True)
        await wait_for(
            pilot,
            lambda: sum(1 for g in table.guests_of(host.label) if g.autostart) == 2,
            "autostart on two guests",
        )

    assert snap_compare(build_app(test_node_uri), terminal_size=(160, 50), run_before=run_before)


def test_filter_applied(snap_compare, test_node_uri: str) -> None:
    """'/' then "WEB": the filter line above the footer holds "WEB" and only
    web-frontend-1 and web-frontend-2 are listed (matching ignores case)."""

    async def run_before(pilot: Pilot[None]) -> None:
        table = (await ticked(pilot, ALL_GUESTS)).table
        await pilot.press("slash", "W", "E", "B")
        await wait_for(pilot, lambda: table.row_count == 2, "two web rows")
        no_blink(pilot)

    assert snap_compare(build_app(test_node_uri), terminal_size=(80, 24), run_before=run_before)


def test_force_off_confirmation(snap_compare, test_node_uri: str) -> None:
    """F on db-primary: a modal asks "Force off 'db-primary' on test:node?" and says
    unsaved data is lost, with "Force off (y)" and "Cancel (n)" buttons, Cancel focused."""

    async def run_before(pilot: Pilot[None]) -> None:
        table = (await ticked(pilot, ALL_GUESTS)).table
        row = next(i for i, n in enumerate(table.shown_names()) if n == "db-primary")
        table.move_cursor(row=row, animate=False)
        await pilot.press("F")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the question")

    assert snap_compare(build_app(test_node_uri), terminal_size=(80, 24), run_before=run_before)


def test_read_only(snap_compare, test_node_uri: str) -> None:
    """kvmtui -r: the status line carries a READ-ONLY badge after the label and every guest
    action in the footer (Start, Shutdown, Reboot, Pause/resume, Force off) is greyed
    out; Filter, Help and Quit stay active."""

    async def run_before(pilot: Pilot[None]) -> None:
        await ticked(pilot, ALL_GUESTS)

    app = build_app(test_node_uri, readonly=True)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_help_screen(snap_compare, test_node_uri: str) -> None:
    """'?': a help box listing the guest list's keys with descriptions taken from the
    bindings, guest actions first (s Start, h Shutdown, ... F Force off, R Reset,
    U Undefine, a Autostart), the guest tools (c Console, v Display greyed out: the
    selected guest has no display), / Filter, then the statistics keys (P, M, T, N sorts,
    B Disk bytes/requests, space Pause statistics, d Refresh interval, H Host view),
    esc Clear filter (dimmed: "only while filtering"), ^l Reconnect, ? Help; the box
    scrolls for q Quit and the table's movement keys."""

    async def run_before(pilot: Pilot[None]) -> None:
        await ticked(pilot, ALL_GUESTS)
        await display_known(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "help")

    assert snap_compare(build_app(test_node_uri), terminal_size=(80, 24), run_before=run_before)


def test_help_screen_read_only(snap_compare, test_node_uri: str) -> None:
    """'?' with -r at 100x40: the help starts with the read-only note and every guest
    action row (s to a) ends in "(disabled: read-only connection)" with its key dimmed;
    Filter, Reconnect, Help, Quit and the movement keys are not disabled. The status
    line behind shows the READ-ONLY badge after the host's label."""

    async def run_before(pilot: Pilot[None]) -> None:
        await ticked(pilot, ALL_GUESTS)
        await display_known(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "help")

    app = build_app(test_node_uri, readonly=True)
    assert snap_compare(app, terminal_size=(100, 40), run_before=run_before)


def test_disconnected_host(snap_compare, test_node_uri: str) -> None:
    """The node beside a host that cannot be opened: the second status line (tinted
    red) says "test:missing  disconnected since 22:13:20", libvirt's reason and
    "retrying"; the node's 13 guests are listed as usual."""

    async def run_before(pilot: Pilot[None]) -> None:
        await ticked(pilot, ALL_GUESTS)

    app = build_app(test_node_uri, MISSING_URI)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_details(snap_compare, test_node_uri: str) -> None:
    """Enter on db-replica: its details — host test:node, name, UUID ...1904, state
    paused (in yellow), ID 4, 4 vCPUs, OS type hvm i686 (from the domain XML), memory
    4.0 GiB of 8.0 GiB maximum, memory stats "no balloon device: memory in use unknown"
    (its XML has none), autostart no, persistent yes — then History with a dash for every
    now/min/max (the test driver has no counters), with Back (escape) in the footer and
    b Memory stats dimmed (no balloon)."""

    async def run_before(pilot: Pilot[None]) -> None:
        table = (await ticked(pilot, ALL_GUESTS)).table
        row = next(i for i, n in enumerate(table.shown_names()) if n == "db-replica")
        table.move_cursor(row=row, animate=False)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DetailsScreen), "details")
        facts = pilot.app.screen.query_one(GuestFacts)
        await wait_for(pilot, lambda: facts.domain_layout is not None, "the domain XML")

    assert snap_compare(build_app(test_node_uri), terminal_size=(80, 24), run_before=run_before)


def test_awkward_names_80x24(snap_compare) -> None:
    """tests/data/awkward_names_node.xml at 80x24 (issue 17): seven names libvirt
    accepts, sorted by name, in a Name column of 22 cells, the State and figure columns
    lined up after it on every row as under the header: "tést guest ☃ 'quote&a…" and the
    180-character "nightly-build-runner-…" cut with an ellipsis; "数据库-主服务器-東京" in
    full, each wide character two cells; "café-zerowidth-softh…" (a combining accent, a
    zero-width space and a soft hyphen inside); "tab␉and␍cr-del␡-csi�3…", the tab,
    carriage return and DEL shown as control pictures and the C1 CSI as �;
    "rlo-�abc-fullwidth-" then a fullwidth A and "…", the right-to-left override shown
    as � and turning nothing round; the rocket, family and heart emoji row (paused,
    yellow)."""

    async def run_before(pilot: Pilot[None]) -> None:
        await ticked(pilot, 7)

    app = build_app(node_uri(AWKWARD_NODE))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
