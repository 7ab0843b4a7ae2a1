"""The storage screen's keys on libvirt's test:/// driver: create and delete through the
forms, refusals shown, read-only disables the actions."""

from __future__ import annotations

from kvmtui.screens.confirm import TypeToConfirmScreen
from kvmtui.screens.storage_volume import VolumeFormScreen
from tests.pilot import STORAGE_NODE_URI, build_app, open_storage, run_async, wait_for


@run_async
async def test_create_then_delete_with_the_keys() -> None:
    app = build_app(STORAGE_NODE_URI, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_storage(pilot)
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
    app = build_app(STORAGE_NODE_URI, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_storage(pilot)
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
    app = build_app(STORAGE_NODE_URI, readonly=True, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_storage(pilot)
        for action in ("create_volume", "refresh_pool", "stop_pool", "grow_volume"):
            assert screen.disabled_reason(action) == "read-only connection"
            assert screen.check_action(action, ()) is None
        await pilot.press("c")
        await pilot.pause()
        assert app.screen is screen
