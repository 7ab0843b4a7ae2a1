"""Snapshots of pending changes and the raw XML editor on libvirt's test:/// driver
(tests/data/node.xml), at 80x24 and 120x40.

Deterministic: a fixed clock rendered in UTC, no statistics, no animation, no cursor
blink. The saved-only changes are made through the app's own connection (the test
driver keeps state per connection) and the host is asked to read the guest again.
"""

from __future__ import annotations

import libvirt
import pytest
from textual.pilot import Pilot

from kvmtui.screens.xml_editor import XmlDiffScreen, XmlEditorScreen
from kvmtui.tui.app import KvmtuiApp, make_app
from kvmtui.tui.widgets.guest_table import PENDING_SIGN
from tests.pilot import loaded, open_xml_editor, select, wait_for

SIZES = [(80, 24), (120, 40)]
CONFIG = libvirt.VIR_DOMAIN_AFFECT_CONFIG
GUEST = "web-frontend-1"

pytestmark = pytest.mark.usefixtures("utc")


def build_on(uri: str) -> KvmtuiApp:
    app = make_app([uri], clock=lambda: 1_700_000_000.0, retry_delays=(3600.0,), stats=False)
    app.animation_level = "none"
    return app


async def pending_change(pilot: Pilot[None]) -> None:
    """web-frontend-1 (running, 2 vCPUs, 2 GiB) gets 1 vCPU and 1 GiB in its saved
    definition only; the list marks it."""
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    screen = await loaded(pilot)
    host = app.hosts[0]
    dom = host.connection().lookupByName(GUEST)
    dom.setVcpusFlags(1, CONFIG)
    dom.setMemoryFlags(1024 * 1024, CONFIG | libvirt.VIR_DOMAIN_MEM_MAXIMUM)
    host.request_refresh(dom.UUIDString())
    key = f"{host.label}/{dom.UUIDString()}"
    await wait_for(pilot, lambda: PENDING_SIGN in screen.table.row_text(key), "the mark")
    await select(pilot, screen.table, GUEST)


async def open_editor(pilot: Pilot[None], guest: str = GUEST) -> XmlEditorScreen:
    editor = await open_xml_editor(pilot, guest)
    await pilot.pause()
    return editor


@pytest.mark.parametrize("size", SIZES)
def test_pending_marker_in_the_list(snap_compare, test_node_uri: str, size) -> None:
    """The cursor on web-frontend-1: its State reads "running ↻" (saved definition with
    1 vCPU and 1 GiB differs from what runs); every other row shows its state alone."""

    async def run_before(pilot: Pilot[None]) -> None:
        await pending_change(pilot)

    assert snap_compare(build_on(test_node_uri), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_pending_changes_in_the_details(snap_compare, test_node_uri: str, size) -> None:
    """web-frontend-1's details: under the Guest facts, "Waiting for a restart (↻)" lists
    "vCPUs 2 now, 1 after restart", "memory 2 GiB now, 1 GiB after restart" and
    "current memory 2 GiB now, 1 GiB after restart"."""

    async def run_before(pilot: Pilot[None]) -> None:
        await pending_change(pilot)
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(build_on(test_node_uri), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_xml_editor(snap_compare, test_node_uri: str, size) -> None:
    """db-primary's saved definition in the editor: highlighted XML (tags, attribute
    names, strings in their colours) with line numbers, the heading naming the guest and
    host, the status line saying ctrl+s checks and shows the diff, the footer ^s Save."""

    async def run_before(pilot: Pilot[None]) -> None:
        await open_editor(pilot, "db-primary")

    assert snap_compare(build_on(test_node_uri), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_xml_diff(snap_compare, test_node_uri: str, size) -> None:
    """The diff of an edit to web-frontend-1 before saving: the --- saved / +++ edited
    heads in bold, a cyan @@ hunk head, "<memory unit='KiB'>2097152</memory>" in red and
    "...1048576..." in green, a new <description> line in green; y Save and n Back to the
    editor in the footer."""

    async def run_before(pilot: Pilot[None]) -> None:
        editor = await open_editor(pilot)
        text = editor.text_area.text.replace(
            "<memory unit='KiB'>2097152</memory>", "<memory unit='KiB'>1048576</memory>"
        ).replace("</uuid>", "</uuid>\n  <description>front end, first of two</description>")
        editor.text_area.load_text(text)
        await pilot.press("ctrl+s")
        app = pilot.app
        await wait_for(pilot, lambda: isinstance(app.screen, XmlDiffScreen), "the diff")
        await pilot.pause()

    assert snap_compare(build_on(test_node_uri), terminal_size=size, run_before=run_before)
