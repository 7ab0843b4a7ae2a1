"""The storage screen's keys on libvirt's test:/// driver: create and delete through the
forms, refusals shown (the upload and download forms' too), read-only disables the
actions."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from kvmtui.screens.confirm import TypeToConfirmScreen
from kvmtui.screens.storage_transfer import DownloadFormScreen, UploadFormScreen
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
        for action in (
            "create_volume", "refresh_pool", "stop_pool", "grow_volume", "upload_volume",
            "download_volume",
        ):  # fmt: skip
            assert screen.disabled_reason(action) == "read-only connection"
            assert screen.check_action(action, ()) is None
        await pilot.press("c")
        await pilot.pause()
        assert app.screen is screen


@run_async
async def test_upload_and_download_forms_refuse_before_starting_a_job(tmp_path: Path) -> None:
    taken = tmp_path / "build.qcow2"  # the name of a volume pool images already has
    taken.write_bytes(b"\0" * 4096)
    existing = tmp_path / "here.img"
    existing.write_bytes(b"x")
    app = build_app(STORAGE_NODE_URI, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_storage(pilot)
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UploadFormScreen), "the form")
        upload = app.screen
        assert isinstance(upload, UploadFormScreen)
        path = upload.query_one("#upload-path", Input)
        path.value = str(tmp_path / "missing.qcow2")  # long paths typed by Pilot are slow
        await pilot.press("enter")
        await wait_for(pilot, lambda: "is not a file here" in upload.error_text, "refusal")
        path.value = str(taken)
        await pilot.pause()
        assert upload.query_one("#upload-name", Input).value == "build.qcow2", "the file's name"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "already has a volume" in upload.error_text, "refusal")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, "the storage screen")

        table = screen.volume_table
        table.move_cursor(row=table.get_row_index("app-1.qcow2"), animate=False)
        await pilot.pause()
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, DownloadFormScreen), "the form")
        download = app.screen
        assert isinstance(download, DownloadFormScreen)
        target = download.query_one("#download-path", Input)
        assert target.value == "app-1.qcow2"
        target.value = str(existing)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "does not overwrite" in download.error_text, "refusal")
        await pilot.press("escape")
        assert app.jobs.jobs() == (), "no job was started"


@run_async
async def test_the_pool_table_fits_80_columns_and_keeps_its_pool_through_resizes() -> None:
    """99 cells of columns with one host: at 80 columns Auto, Type and Allocation are
    left out (the line under the table gives the type and the promises) and nothing
    scrolls sideways; wide again, every column is back; the cursor stays on its pool."""
    app = build_app(STORAGE_NODE_URI, stats=False)
    async with app.run_test(size=(200, 40)) as pilot:
        screen = await open_storage(pilot, "images")
        table = screen.pool_table
        everything = ("Pool", "Type", "State", "Auto", "Capacity", "Allocation", "Available",
                      "Promised", "Prom/Cap")  # fmt: skip
        assert table.shown_columns == everything
        for size, columns in (
            ((80, 24), ("Pool", "State", "Capacity", "Available", "Promised", "Prom/Cap")),
            ((60, 24), ("Pool", "State", "Capacity", "Prom/Cap")),
            ((200, 40), everything),
        ):
            await pilot.resize_terminal(*size)
            await wait_for(pilot, lambda c=columns: table.shown_columns == c, f"{size}")  # type: ignore[misc]
            await pilot.pause()
            assert [c.label.plain for c in table.columns.values()] == list(columns)
            assert table.virtual_size.width <= table.scrollable_content_region.width, size
            assert table.max_scroll_x == 0, size
            assert screen.selected_pool is not None and screen.selected_pool.name == "images"
            assert "images" in str(screen.query_one("#thin").render())
