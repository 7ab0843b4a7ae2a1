"""Snapshots of the configuration editor (e) on libvirt's test:/// driver
(tests/data/throttle_node.xml: db-primary runs with 2 vCPUs, 4 GiB, disks vda and vdb
and a NIC on the network 'default'), at 80x24 and 120x40.

Deterministic: the node file fixes every value, no statistics, no animation, no cursor
blink. Changes are typed through the editor's own keys and questions.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from conftest import node_uri
from kvmtui.screens.config_editor import ConfigEditorScreen
from kvmtui.screens.config_forms import PreviewScreen
from kvmtui.screens.refusal import ERROR_ID
from tests.pilot import answer, build_app, open_config_editor, wait_for

NODE = Path(__file__).parent.parent / "tests" / "data" / "throttle_node.xml"
URI = node_uri(NODE)
GUEST = "db-primary"
SIZES = [(80, 24), (120, 40)]


async def two_pending(pilot: Pilot[None]) -> ConfigEditorScreen:
    """vCPUs 2 -> 1 (enter on the vCPUs row) and the link of the NIC down (l on it)."""
    editor = await open_config_editor(pilot, GUEST)
    await pilot.press("enter")  # the cursor starts on vCPUs
    await answer(pilot, "1")
    nic = [row.key.value for row in editor.table.ordered_rows].index("nic:52:54:00:12:34:56")
    editor.table.move_cursor(row=nic)
    await pilot.press("l")
    await wait_for(pilot, lambda: len(editor.pending) == 2, "two pending changes")
    return editor


@pytest.mark.parametrize("size", SIZES)
def test_config_editor_with_pending_changes(snap_compare, size) -> None:
    """db-primary's configuration by section: CPU and memory (vCPUs "2 of 2" running and
    saved, memory "4 GiB of 4 GiB"), Boot (order hd, menu off, firmware bios), Disks and
    CD-ROMs (vda and vdb with their files), NICs (52:54:00:12:34:56 network default,
    link up), Identity (name, no title, autostart off). Below: "Scope both: the running
    guest and its saved configuration. Pending: 2", then "vCPUs: 2 of at most 2 -> 1 of
    at most 2" and "link: 52:54:00:12:34:56: up -> ...: down". The cursor is on the NIC."""

    async def run_before(pilot: Pilot[None]) -> None:
        await two_pending(pilot)

    assert snap_compare(build_app(URI, stats=False), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_config_editor_preview(snap_compare, size) -> None:
    """ctrl+s with the two pending changes: the preview asks "Apply to 'db-primary' on
    test:throttle_node? If one step fails, those before it are undone." and lists vCPUs
    (now "2 of at most 2", after "1 of at most 2", goes to "live, saved") and link (now
    up, after down, goes to "live, saved"); y applies, n goes back. The four columns fit
    the dialog at both sizes (Goes to at its right edge), rows striped."""

    async def run_before(pilot: Pilot[None]) -> None:
        await two_pending(pilot)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PreviewScreen), "preview")
        await pilot.pause()

    assert snap_compare(build_app(URI, stats=False), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_config_editor_saved_device_changes_preview(snap_compare, size) -> None:
    """db-replica (shut off): vda's options row was changed to "cache writeback", a new
    SCSI CD-ROM drive with /isos/tools.iso was added (c), and its SATA CD-ROM sda marked
    for removal (d). The preview lists "disk options" (now "vda: cache default", after
    "vda: cache writeback"), "new CD-ROM drive" (after "sdb (scsi): /isos/tools.iso; +
    virtio-scsi controller") and "remove CD-ROM drive" (now "sda: (empty)", after
    "(detached)"), each going to "saved". At 80x24 the new drive's After text wraps
    under its column onto three lines (rsvg-convert draws those continuation lines from
    the left edge: it drops the leading no-break spaces; the screen has them), "saved" on
    its first line. The pending list below names the drive sdb too."""

    async def run_before(pilot: Pilot[None]) -> None:
        editor = await open_config_editor(pilot, "db-replica")
        keys = [row.key.value for row in editor.table.ordered_rows]
        editor.table.move_cursor(row=keys.index("opts:vda"))
        await pilot.press("enter")
        await answer(pilot, "cache writeback")
        await pilot.press("c")
        await answer(pilot, "scsi /isos/tools.iso")
        editor.table.move_cursor(row=keys.index("disk:sda"))
        await pilot.press("d")
        await wait_for(pilot, lambda: pilot.app.screen is not editor, "the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(editor.pending) == 3, "three pending changes")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PreviewScreen), "preview")
        await pilot.pause()

    assert snap_compare(build_app(URI, stats=False), terminal_size=size, run_before=run_before)


def test_config_editor_refused_answer_stays_in_the_question(snap_compare) -> None:
    """80x24, db-primary's vCPUs row: "3" typed where the running maximum is 2. The
    question stays open with "3" still in its field and says why under it, in bold red:
    "Could not change the configuration of guest 'db-primary' on test:throttle_node:
    vCPUs (running guest): the running guest can have at most 2 (its maximum at boot);
    ... Nothing was changed."; the hot-plug hint below. The editor behind says
    "Pending: none": the refused answer was not added."""

    async def run_before(pilot: Pilot[None]) -> None:
        await open_config_editor(pilot, GUEST)
        await pilot.press("enter")  # the cursor starts on vCPUs
        await answer(pilot, "3")
        question = pilot.app.screen
        line = question.query_one(f"#{ERROR_ID}", Static)
        await wait_for(pilot, lambda: line.display, "the refusal")
        await pilot.pause()

    assert snap_compare(build_app(URI, stats=False), terminal_size=(80, 24), run_before=run_before)
