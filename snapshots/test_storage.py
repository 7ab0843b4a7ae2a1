"""Snapshots of the storage screen on libvirt's test:/// driver (tests/data/storage-node.xml).

Two dir pools of 100 GiB (the test driver's size for every pool): images, whose five
volumes promise 160.7 GiB, and bulk, whose one volume promises 150 GiB. No clock, no
hostname; each shot waits for the pools to load.
"""

from __future__ import annotations

from textual.pilot import Pilot

from kvmtui.screens.storage_volume import VolumeFormScreen
from tests.pilot import STORAGE_NODE_URI, build_app, no_blink, open_storage, wait_for


def test_storage_screen(snap_compare) -> None:
    """Pools: bulk (150.0 GiB promised, 1.50x in yellow) and images (cursor; 33.8 GiB
    allocated, 66.2 GiB available, 160.7 GiB promised, 1.61x yellow), both running. The
    thin line: "images on test:storage-node (dir, /var/lib/libvirt/images): 5 volumes
    promise 160.7 GiB of 100.0 GiB real (1.61x), 60.7 GiB beyond what exists; they hold
    33.8 GiB on disk." Volumes: app-1.qcow2 and app-2.qcow2 (40 GiB, ~15% on disk in
    green, used by app-1 / app-2 in bold), build.qcow2 (60 GiB, 35.0%, build),
    install.iso (700 MiB, 100.0%), scratch.raw (20 GiB, 0 KiB, 0.0%, unused), with
    paths."""

    async def run_before(pilot: Pilot[None]) -> None:
        await open_storage(pilot)

    app = build_app(STORAGE_NODE_URI, stats=False)
    assert snap_compare(app, terminal_size=(120, 32), run_before=run_before)


def test_storage_new_volume_refuses_bad_name(snap_compare) -> None:
    """c on images, name "bad name" and enter: the form (name, capacity 10G, format
    qcow2, sparse checked) shows in red that "bad name" is not a volume name kvmtui
    creates and that nothing was changed."""

    async def run_before(pilot: Pilot[None]) -> None:
        await open_storage(pilot)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, VolumeFormScreen), "form")
        form = pilot.app.screen
        assert isinstance(form, VolumeFormScreen)
        await pilot.press(*"bad name", "enter")
        await wait_for(pilot, lambda: "not a volume name" in form.error_text, "the refusal")
        no_blink(pilot)

    app = build_app(STORAGE_NODE_URI, stats=False)
    assert snap_compare(app, terminal_size=(120, 32), run_before=run_before)


def test_storage_read_only(snap_compare) -> None:
    """kvmtui -r: the same pools and volumes; the status line says "Changes disabled:
    read-only connection." and every action in the footer is dimmed."""

    async def run_before(pilot: Pilot[None]) -> None:
        await open_storage(pilot)

    app = build_app(STORAGE_NODE_URI, readonly=True, stats=False)
    assert snap_compare(app, terminal_size=(120, 32), run_before=run_before)
