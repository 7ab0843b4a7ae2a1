"""Snapshots of the storage screen on libvirt's test:/// driver (tests/data/storage-node.xml).

Two dir pools of 100 GiB (the test driver's size for every pool): images, whose five
volumes promise 160.7 GiB, and bulk, whose one volume promises 150 GiB. No clock, no
hostname; each shot waits for the pools to load.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from kvmtui.backend.model import ConnectionState
from kvmtui.screens.storage import StorageScreen
from kvmtui.screens.storage_volume import VolumeFormScreen
from kvmtui.tui.app import KvmtuiApp, make_app

NODE_URI = f"test://{Path(__file__).parent.parent / 'tests' / 'data' / 'storage-node.xml'}"


def build(*, readonly: bool = False) -> KvmtuiApp:
    app = make_app(
        [NODE_URI],
        readonly=readonly,
        clock=lambda: 1_700_000_000.0,
        retry_delays=(3600.0,),
        stats=False,
    )
    app.animation_level = "none"
    return app


async def wait_for(pilot: Pilot[None], ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 15.0
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def open_storage(pilot: Pilot[None], pool: str = "images") -> StorageScreen:
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    host = app.hosts[0]
    await wait_for(pilot, lambda: host.status.state is ConnectionState.CONNECTED, "the node")
    screen = StorageScreen(app.hosts)
    await app.push_screen(screen)
    await wait_for(pilot, lambda: screen.loads == 1, "the pools")
    table = screen.pool_table
    table.move_cursor(row=table.get_row_index(f"{host.label}/{pool}"), animate=False)
    await wait_for(
        pilot,
        lambda: screen.selected_pool is not None and screen.selected_pool.name == pool,
        f"pool {pool}",
    )
    selected = screen.selected_pool
    assert selected is not None
    await wait_for(
        pilot,
        lambda: set(screen.volume_table.volumes) == {v.name for v in selected.volumes},
        f"the volumes of {pool}",
    )
    # The Path column is sized to its cells when the table is next idle; until then it
    # keeps the width of the pool shown before (bulk's 21-cell path), which a loaded
    # machine once caught in a shot.
    longest = max(len(v.path) for v in selected.volumes)
    path = next(c for c in screen.volume_table.columns.values() if c.key.value == "Path")
    await wait_for(pilot, lambda: path.content_width >= longest, "the Path column's width")
    await pilot.pause()
    return screen


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

    assert snap_compare(build(), terminal_size=(120, 32), run_before=run_before)


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
        for widget in form.query("Input"):
            widget.cursor_blink = False  # type: ignore[attr-defined]

    assert snap_compare(build(), terminal_size=(120, 32), run_before=run_before)


def test_storage_read_only(snap_compare) -> None:
    """kvmtui -r: the same pools and volumes; the status line says "Changes disabled:
    read-only connection." and every action in the footer is dimmed."""

    async def run_before(pilot: Pilot[None]) -> None:
        await open_storage(pilot)

    assert snap_compare(build(readonly=True), terminal_size=(120, 32), run_before=run_before)
