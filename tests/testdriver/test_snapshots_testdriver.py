"""Snapshots on libvirt's test:/// driver (tests/data/snapshot-node.xml): read-only
refusals before libvirt, capability sentences (raw disk, UEFI on libvirt 9.0, a disk that
is not a file), name checks, and the screen's revert and delete questions driven with the
Pilot."""

from __future__ import annotations

from dataclasses import replace

import libvirt
import pytest

from kvmtui.backend import errors, snapshots
from kvmtui.backend.jobs import JobState
from kvmtui.backend.snapshots import DeleteMode, Kind, RevertTo, SnapshotRequest
from kvmtui.screens.snapshot_forms import DeleteScreen, RevertScreen, SnapshotFormScreen
from kvmtui.screens.snapshots import SnapshotsScreen
from tests.hosts import started_host
from tests.pilot import build_app, loaded, run_async, select, wait_for
from tests.snapshot_trees import (
    APPLIANCE_UUID,
    FIRMWARE_UUID,
    LEGACY_UUID,
    SNAPSHOT_NODE_URI,
    WEB_UUID,
    make_tree,
    open_snapshots,
)


def test_read_only_refuses_every_change_before_libvirt() -> None:
    """Each change raises ReadOnlyError (the backend's own, not libvirt's refusal), and
    the snapshots are as they were; the offer says read-only."""
    with started_host(SNAPSHOT_NODE_URI, readonly=True) as host:
        tree = snapshots.read_tree(host, WEB_UUID)
        assert tree.offer.internal == "the connection is read-only"
        assert tree.offer.external == "the connection is read-only"
        changes = [
            lambda: snapshots.create(host, WEB_UUID, SnapshotRequest("new")),
            lambda: snapshots.create(host, WEB_UUID, SnapshotRequest("new", "", Kind.EXTERNAL)),
            lambda: snapshots.revert(host, WEB_UUID, "base", RevertTo.RUNNING),
            lambda: snapshots.delete(host, WEB_UUID, "base", DeleteMode.ONE),
            lambda: snapshots.delete(host, WEB_UUID, "base", DeleteMode.CHILDREN),
            lambda: snapshots.delete(host, WEB_UUID, "base", DeleteMode.METADATA),
        ]
        for change in changes:
            with pytest.raises(errors.ReadOnlyError, match="the connection is read-only"):
                change()
        assert snapshots.read_tree(host, WEB_UUID).snapshots == ()


def test_raw_disk_cannot_hold_an_internal_snapshot() -> None:
    with started_host(SNAPSHOT_NODE_URI) as host:
        offer = snapshots.read_tree(host, LEGACY_UUID).offer
        assert offer.internal == "disk vdb is raw; only qcow2 can hold an internal snapshot"
        assert offer.external is None
        assert "Internal snapshots: not offered, disk vdb is raw" in offer.not_offered()[0]
        with pytest.raises(snapshots.SnapshotValueError, match="disk vdb is raw"):
            snapshots.create(host, LEGACY_UUID, SnapshotRequest("x"))
        assert host.connection().lookupByUUIDString(LEGACY_UUID).snapshotNum(0) == 0


def test_external_needs_every_disk_to_be_a_file() -> None:
    """A qcow2 on a block device can hold an internal snapshot, not an overlay file: the
    external kind is refused with the disk named, nothing made; internal still works."""
    with started_host(SNAPSHOT_NODE_URI) as host:
        offer = snapshots.read_tree(host, APPLIANCE_UUID).offer
        assert offer.external == "disk vdb is a block disk, not a file"
        assert offer.internal is None
        assert "External disk-only snapshots: not offered, disk vdb is a block disk" in (
            offer.not_offered()[0]
        )
        request = SnapshotRequest("x", "", Kind.EXTERNAL)
        with pytest.raises(snapshots.SnapshotValueError, match="disk vdb is a block disk"):
            snapshots.create(host, APPLIANCE_UUID, request)
        dom = host.connection().lookupByUUIDString(APPLIANCE_UUID)
        assert dom.snapshotNum(0) == 0
        made = snapshots.create(host, APPLIANCE_UUID, SnapshotRequest("inside"))
        assert not made.external and not made.memory and made.state == "shut off"


def test_uefi_internal_needs_libvirt_newer_than_9_0() -> None:
    with started_host(SNAPSHOT_NODE_URI) as host:
        offer = snapshots.read_tree(host, FIRMWARE_UUID).offer
        if host.connection().getLibVersion() >= snapshots.UEFI_INTERNAL_MIN:
            assert offer.internal is None
        else:
            assert offer.internal is not None
            assert offer.internal.startswith("internal snapshots of UEFI guests need libvirt")


def test_names_are_checked_before_sending() -> None:
    with started_host(SNAPSHOT_NODE_URI) as host:
        make_tree(host.connection())
        with pytest.raises(snapshots.SnapshotValueError, match="already a snapshot named"):
            snapshots.create(host, WEB_UUID, SnapshotRequest("base"))
        with pytest.raises(snapshots.SnapshotValueError, match="without '/'"):
            snapshots.create(host, WEB_UUID, SnapshotRequest("a/b"))
        assert len(snapshots.read_tree(host, WEB_UUID).snapshots) == 4


@run_async
async def test_revert_asks_and_leaves_the_guest_paused() -> None:
    app = build_app(SNAPSHOT_NODE_URI, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_snapshots(pilot)
        screen.table.move_cursor(row=0, animate=False)  # base
        await pilot.pause()
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, RevertScreen), "the question")
        question = app.screen
        assert isinstance(question, RevertScreen)
        # The warning names what no snapshot holds: web runs from "config".
        assert "Unsaved state is lost: its memory and every change to its disks since " \
            "snapshot 'config'" in question.question()
        tree = question.snapshot_tree
        no_current = replace(tree, snapshots=tuple(replace(s, current=False)
                                                   for s in tree.snapshots))  # fmt: skip
        assert "its memory and its disks as they are now, which no snapshot holds" in (
            RevertScreen(no_current, question.snapshot).question()
        )
        await pilot.press("p")
        await wait_for(pilot, lambda: screen.loads >= 2, "the tree after the revert")
        dom = app.hosts[0].connection().lookupByUUIDString(WEB_UUID)
        assert dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED
        assert dom.snapshotCurrent(0).getName() == "base"
        assert screen.selected is not None and screen.selected.current


@run_async
async def test_cancelled_revert_changes_nothing() -> None:
    app = build_app(SNAPSHOT_NODE_URI, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_snapshots(pilot)
        screen.table.move_cursor(row=0, animate=False)
        await pilot.pause()
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, RevertScreen), "the question")
        await pilot.press("enter")  # the focus is on cancel
        await wait_for(pilot, lambda: app.screen is screen, "the tree again")
        dom = app.hosts[0].connection().lookupByUUIDString(WEB_UUID)
        assert dom.snapshotCurrent(0).getName() == "config"
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING


@run_async
async def test_delete_with_children_from_the_screen() -> None:
    app = build_app(SNAPSHOT_NODE_URI, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_snapshots(pilot)
        screen.table.move_cursor(row=1, animate=False)  # packages, with config below
        await pilot.pause()
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DeleteScreen), "the question")
        await pilot.press("c")
        await wait_for(pilot, lambda: screen.loads >= 2, "the tree after the delete")
        tree = screen.snapshot_tree
        assert tree is not None
        assert [s.name for s in tree.snapshots] == ["base", "experiment"]


@run_async
async def test_create_from_the_form() -> None:
    app = build_app(SNAPSHOT_NODE_URI, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_snapshots(pilot, tree=False)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, SnapshotFormScreen), "the form")
        await pilot.press(*"nightly", "tab", *"before upgrade", "enter")
        await wait_for(pilot, lambda: screen.loads >= 2, "the tree after the snapshot")
        tree = screen.snapshot_tree
        assert tree is not None
        made = tree.snapshot("nightly")
        assert made is not None and made.current and made.description == "before upgrade"
        assert made.memory  # web runs: an internal snapshot holds its memory
        # ... so it was taken as a job, which the jobs screen lists with its outcome.
        (job,) = app.jobs.jobs()
        assert job.state is JobState.DONE and job.title == "Snapshot 'nightly' of 'web'"
        assert job.outcome == "Took snapshot 'nightly' of 'web' (with memory)."


@run_async
async def test_z_opens_the_snapshots_of_the_selected_guest() -> None:
    app = build_app(SNAPSHOT_NODE_URI, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        guests = await loaded(pilot)
        await select(pilot, guests.table, "legacy")
        await pilot.press("z")
        await wait_for(pilot, lambda: isinstance(app.screen, SnapshotsScreen), "the screen")
        screen = app.screen
        assert isinstance(screen, SnapshotsScreen) and screen.uuid == LEGACY_UUID
        await wait_for(pilot, lambda: screen.loads >= 1, "the snapshots")
        assert "disk vdb is raw" in screen.offer_text()
