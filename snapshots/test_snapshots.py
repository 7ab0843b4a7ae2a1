"""Snapshots of the snapshot screen (``z``) on libvirt's test:/// driver
(tests/data/snapshot-node.xml, snapshots made by tests/snapshot_trees.py with fixed
creation times from 2023-11-14 22:13 UTC, an hour apart). No clock, no hostname."""

from __future__ import annotations

from textual.pilot import Pilot

from kvmtui.screens.snapshot_forms import DeleteScreen, RevertScreen, SnapshotFormScreen
from tests.pilot import build_app, no_blink, wait_for
from tests.snapshot_trees import LEGACY_UUID, SNAPSHOT_NODE_URI, open_snapshots


def test_snapshot_tree(snap_compare) -> None:
    """120x40: "Snapshots of 'web' on test:snapshot-node"; the tree: base (2023-11-14
    22:13 UTC, fresh install), packages indented below it with "└" (23:13, nginx and
    certbot installed), config below packages (00:13 on the 15th, no description) marked
    "*" with the cursor on it, experiment below base (01:13, trying a newer kernel); all
    "running". Under the table in yellow: the "* current snapshot" legend, and that
    quiesce is not offered (no agent channel) and revert to external snapshots needs
    libvirt 9.9 (the host has 9.0.0). Footer: New snapshot, Revert, Delete."""

    async def run_before(pilot: Pilot[None]) -> None:
        await open_snapshots(pilot)

    app = build_app(SNAPSHOT_NODE_URI, stats=False)
    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_snapshot_tree_at_80x24(snap_compare) -> None:
    """80x24: the same tree and sentences; descriptions cut at the right edge, the footer
    on the last line with escape Back first."""

    async def run_before(pilot: Pilot[None]) -> None:
        await open_snapshots(pilot)

    app = build_app(SNAPSHOT_NODE_URI, stats=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_snapshot_form_raw_disk(snap_compare) -> None:
    """n on legacy (shut off, a raw vdb beside a qcow2 vda), 120x40: the form with name
    and description empty; kind "internal" greyed out, "external, disk-only" chosen;
    memory and quiesce unticked and greyed; below in yellow: "No internal: disk vdb is
    raw; only qcow2 can hold an internal snapshot.", no memory (no internal snapshot
    here), no quiesce (the guest is not running)."""

    async def run_before(pilot: Pilot[None]) -> None:
        await open_snapshots(pilot, LEGACY_UUID, tree=False)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, SnapshotFormScreen), "form")
        no_blink(pilot)
        await pilot.pause()

    app = build_app(SNAPSHOT_NODE_URI, stats=False)
    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_snapshot_delete_question(snap_compare) -> None:
    """80x24, d on "packages" (one child): the question says it has 1 child snapshot
    that moves to its parent when deleted alone or goes with it, and what metadata only
    means; buttons Delete (d), With children (c), Metadata only (m), Cancel (n) focused."""

    async def run_before(pilot: Pilot[None]) -> None:
        screen = await open_snapshots(pilot)
        screen.table.move_cursor(row=1, animate=False)
        await pilot.pause()
        assert screen.selected is not None and screen.selected.name == "packages"
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DeleteScreen), "question")
        await pilot.pause()

    app = build_app(SNAPSHOT_NODE_URI, stats=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_snapshot_revert_question(snap_compare) -> None:
    """80x24, v on "experiment" (the guest runs from "config"): the question names 'web',
    test:snapshot-node and 'experiment', warns "Unsaved state is lost: its memory and
    every change to its disks since snapshot 'config'", says to cancel and take a
    snapshot first (n) to keep it, and offers the state afterwards: "Revert, running
    (r)", "Revert, paused (p)", and "Cancel (n)", focused."""

    async def run_before(pilot: Pilot[None]) -> None:
        screen = await open_snapshots(pilot)
        screen.table.move_cursor(row=3, animate=False)
        await pilot.pause()
        assert screen.selected is not None and screen.selected.name == "experiment"
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RevertScreen), "question")
        await pilot.pause()

    app = build_app(SNAPSHOT_NODE_URI, stats=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
