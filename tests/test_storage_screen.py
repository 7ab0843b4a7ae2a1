"""The storage screen's keys on libvirt's test:/// driver: create and delete through the
forms, refusals shown, read-only disables the actions."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from kvmtui.screens.confirm import TypeToConfirmScreen
from kvmtui.screens.storage import StorageScreen
from kvmtui.screens.storage_volume import VolumeFormScreen
from kvmtui.tui.app import KvmtuiApp, make_app
from tests.pilot import run_async, wait_for

NODE_URI = f"test://{Path(__file__).parent / 'data' / 'storage-node.xml'}"


async def opened(pilot: Pilot[None], app: KvmtuiApp) -> StorageScreen:
    await wait_for(pilot, lambda: app.hosts[0].connected, "the node")
    screen = StorageScreen(app.hosts)
    await app.push_screen(screen)
    await wait_for(pilot, lambda: screen.loads >= 1, "the pools")
    table = screen.pool_table
    table.move_cursor(row=table.get_row_index(f"{app.hosts[0].label}/images"), animate=False)
    await wait_for(pilot, lambda: screen.selected_pool is not None and
                   screen.selected_pool.name == "images", "images")  # fmt: skip
    await wait_for(pilot, lambda: "build.qcow2" in screen.volume_table.volumes, "its volumes")
    return screen


@run_async
async def test_create_then_delete_with_the_keys() -> None:
    app = make_app([NODE_URI], stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await opened(pilot, app)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, VolumeFormScreen), "the form")
        await pilot.press(*"made.qcow2", "tab", "ctrl+a", "ctrl+k", *"3G", "enter")
        await wait_for(pilot, lambda: "made.qcow2" in screen.volume_table.volumes, "new row", 15)
        made = screen.volume_table.volumes["made.qcow2"]
        assert made.capacity_bytes == 3 * 1024**3 and made.format == "qcow2"

        table = screen.volume_table
        table.move_cursor(row=table.get_row_index("made.qcow2"), animate=False)
        await pilot.pause()
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, TypeToConfirmScreen), "question")
        await pilot.press(*"wrong", "enter")
        await pilot.pause()
        assert isinstance(app.screen, TypeToConfirmScreen), "a wrong name must not confirm"
        await pilot.press("ctrl+a", "ctrl+k", *"made.qcow2", "enter")
        await wait_for(pilot, lambda: "made.qcow2" not in screen.volume_table.volumes, "gone", 15)


@run_async
async def test_delete_disabled_while_a_guest_uses_the_volume() -> None:
    app = make_app([NODE_URI], stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await opened(pilot, app)
        table = screen.volume_table
        table.move_cursor(row=table.get_row_index("build.qcow2"), animate=False)
        await pilot.pause()
        assert screen.disabled_reason("delete_volume") == "used by build"
        assert screen.check_action("delete_volume", ()) is None
        await pilot.press("d")
        await pilot.pause()
        assert app.screen is screen, "no question for a volume in use"


@run_async
async def test_read_only_disables_every_change() -> None:
    app = make_app([NODE_URI], readonly=True, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await opened(pilot, app)
        for action in ("create_volume", "refresh_pool", "stop_pool", "grow_volume"):
            assert screen.disabled_reason(action) == "read-only connection"
            assert screen.check_action(action, ()) is None
        await pilot.press("c")
        await pilot.pause()
        assert app.screen is screen
