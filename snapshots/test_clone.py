"""Snapshots of the clone form (C on a shut-off guest) on libvirt's test:/// driver
(tests/data/storage-node.xml): the shut-off guest "build" has one 60 GiB qcow2 disk,
build.qcow2, in the dir pool images. Each shot waits until the form has read the guest."""

from __future__ import annotations

from textual.pilot import Pilot

from kvmtui.screens.clone_form import CloneFormScreen
from tests.pilot import STORAGE_NODE_URI, build_app, loaded, no_blink, select, wait_for


async def _open(pilot: Pilot[None], linked: bool = False) -> None:
    screen = await loaded(pilot)
    await select(pilot, screen.table, "build")
    await pilot.press("C")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CloneFormScreen), "the form")
    form = pilot.app.screen
    assert isinstance(form, CloneFormScreen)
    await wait_for(pilot, lambda: form.source is not None, "the guest read", 15)
    if linked:
        form.query_one("#mode-linked").value = True
        await wait_for(pilot, lambda: "overlay on it" in form.disks_text, "the linked plan")
    no_blink(pilot)
    await pilot.pause()


def test_clone_form_80x24(snap_compare) -> None:
    """80x24: the dialog "Clone 'build' on test:storage-node" over the guest list: name
    "build-clone" (focused), disks "full copy (independent)" chosen and "linked clone
    (qcow2 overlay on this guest's disks)", pool "images (66.2 GiB free)"; below, "vda:
    build.qcow2 in images, qcow2 60 GiB, copied", the hint line, no error."""

    async def run_before(pilot: Pilot[None]) -> None:
        await _open(pilot)

    app = build_app(STORAGE_NODE_URI, stats=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_clone_form_linked_120x40(snap_compare) -> None:
    """120x40: the same form with "linked clone" chosen: "vda: build.qcow2 in images,
    qcow2 60 GiB, overlay on it" and "'build' then asks before it starts: its disks
    become the base."."""

    async def run_before(pilot: Pilot[None]) -> None:
        await _open(pilot, linked=True)

    app = build_app(STORAGE_NODE_URI, stats=False)
    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
