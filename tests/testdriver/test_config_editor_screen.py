"""The configuration editor's screen on libvirt's test:/// driver: changes gathered by
keys, refused ones said in a sentence in the question (which stays open with what was
typed) and not added, previewed, applied through a worker and read back into the table;
read-only opens it as a viewer."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static

from conftest import node_uri
from kvmtui.backend.config_changes import (
    AddCdrom,
    AttachNic,
    ChangeMedia,
    DetachDisk,
    RemoveCdrom,
    SetDiskOptions,
)
from kvmtui.backend.config_edit import plan_changes
from kvmtui.backend.throttle import Scope
from kvmtui.screens.config_editor import ConfigEditorScreen
from kvmtui.screens.config_forms import AttachNicScreen, PreviewScreen, ValueScreen
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.refusal import ERROR_ID
from tests.pilot import (
    answer,
    build_app,
    open_config_editor,
    refused_answer,
    run_async,
    wait_for,
)

URI = node_uri(Path(__file__).parents[1] / "data" / "throttle_node.xml")
GUEST = "db-primary"


def _row(editor: ConfigEditorScreen, key: str) -> int:
    return [row.key.value for row in editor.table.ordered_rows].index(key)


@run_async
async def test_a_title_and_vcpus_are_previewed_applied_and_read_back() -> None:
    app = build_app(URI, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        editor = await open_config_editor(pilot, GUEST)
        await pilot.press("enter")  # vCPUs
        await answer(pilot, "1")
        editor.table.move_cursor(row=_row(editor, "title"))
        await pilot.press("enter")
        await answer(pilot, "primary database")
        assert len(editor.pending) == 2
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview")
        await pilot.press("y")
        await wait_for(pilot, lambda: not editor.pending and not editor.busy, "applied")
        config = editor.config
        assert config is not None
        assert (config.vcpus_live, config.vcpus_saved, config.title) == (
            1, 1, "primary database"
        )  # fmt: skip
        status = str(editor.query_one("#config-status").render())
        assert "Applied:" in status and "Read back: as asked." in status
        row = editor.table.get_row_at(_row(editor, "title"))
        assert "primary database" in str(row[2])


@run_async
async def test_a_refused_change_is_said_and_not_added() -> None:
    app = build_app(URI, stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_config_editor(pilot, GUEST)
        await pilot.press("enter")  # vCPUs
        reason = await refused_answer(pilot, "3")  # more than the running maximum of 2
        assert "at most 2" in reason
        assert editor.pending == []
        editor.table.move_cursor(row=_row(editor, "name"))
        await pilot.press("enter")
        assert "shut it down first" in await refused_answer(pilot, "renamed")
        assert editor.pending == []
        editor.table.move_cursor(row=_row(editor, "vcpus"))
        await pilot.press("enter")  # refused, then corrected in the question: taken
        await answer(pilot, "3")
        question = app.screen
        assert isinstance(question, ValueScreen)
        question.query_one(Input).value = "1"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is editor, "the question to close")
        assert len(editor.pending) == 1


@run_async
async def test_read_only_opens_a_viewer() -> None:
    app = build_app(URI, stats=False, readonly=True)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_config_editor(pilot, GUEST)
        for action in ("change", "attach_disk", "attach_nic", "apply", "cycle_scope"):
            assert editor.disabled_reason(action) == "read-only connection"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfigEditorScreen) and editor.pending == []


@run_async
async def test_detaching_a_disk_asks_first() -> None:
    app = build_app(URI, stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_config_editor(pilot, GUEST)
        editor.table.move_cursor(row=_row(editor, "disk:vdb"))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert "Detach disk vdb from 'db-primary'?" in app.screen.question
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is editor, "back in the editor")
        assert editor.pending == []
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: editor.pending == [DetachDisk("vdb")], "pending detach")


@run_async
async def test_a_shut_off_guest_has_its_saved_side_only() -> None:
    app = build_app(URI, stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_config_editor(pilot, "db-replica")
        assert editor.scope is Scope.CONFIG
        assert editor.disabled_reason("cycle_scope") == "the guest has one side only"
        editor.table.move_cursor(row=_row(editor, "disk:sda"))  # its empty CD-ROM
        assert editor.disabled_reason("eject") is None
        await pilot.press("enter")
        await answer(pilot, "/isos/install.iso")
        assert editor.pending == [ChangeMedia("sda", "/isos/install.iso")]
        pending = str(editor.query_one("#config-pending").render())
        assert "saved (the guest is shut off)" in pending
        assert "CD-ROM: sda: (empty) -> sda: /isos/install.iso" in pending


@run_async
async def test_a_guest_stopped_elsewhere_is_read_again() -> None:
    app = build_app(URI, stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_config_editor(pilot, GUEST)
        assert editor.config is not None and editor.config.active
        editor.host.connection().lookupByName(GUEST).destroy()
        await wait_for(
            pilot, lambda: editor.config is not None and not editor.config.active, "re-read"
        )
        assert editor.scope is Scope.CONFIG


@run_async
async def test_disk_options_a_new_cdrom_drive_and_removing_one_are_saved_changes() -> None:
    app = build_app(URI, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        editor = await open_config_editor(pilot, "db-replica")  # shut off, a SATA CD-ROM
        row = editor.table.get_row_at(_row(editor, "opts:vda"))
        assert "cache default" in str(row[2])
        editor.table.move_cursor(row=_row(editor, "opts:vda"))
        await pilot.press("enter")
        reason = await refused_answer(pilot, "cache writeback, fast")
        assert "'fast' is not read-only, shareable or cache MODE. Nothing added." in reason
        assert editor.pending == []
        await pilot.press("enter")
        await answer(pilot, "cache writeback")
        await pilot.press("c")
        reason = await refused_answer(pilot, "ide")  # a new drive goes on SCSI or SATA
        assert "goes on scsi or sata, not 'ide'. Nothing was changed." in reason
        await pilot.press("c")
        await answer(pilot, "scsi /isos/tools.iso")
        editor.table.move_cursor(row=_row(editor, "disk:sda"))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert "Remove CD-ROM drive sda" in app.screen.question
        await pilot.press("y")
        await wait_for(pilot, lambda: len(editor.pending) == 3, "three pending changes")
        assert editor.pending == [
            SetDiskOptions("vda", cache="writeback", shareable=False, readonly=False),
            AddCdrom("scsi", "/isos/tools.iso"),
            RemoveCdrom("sda"),
        ]
        pending = str(editor.query_one("#config-pending").render())
        assert "disk options: vda: cache default -> vda: cache writeback" in pending
        # sdb, the name the preview gives and libvirt is given (sda is the SATA drive)
        new = "new CD-ROM drive: - -> sdb (scsi): /isos/tools.iso; + virtio-scsi controller"
        assert new in pending
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview")
        preview = app.screen
        assert isinstance(preview, PreviewScreen)
        assert preview.rows[1].after.startswith("sdb (scsi): /isos/tools.iso")


@run_async
async def test_a_dimm_where_memory_hot_plug_is_not_configured_is_refused_with_why() -> None:
    app = build_app(URI, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        editor = await open_config_editor(pilot, GUEST)
        editor.table.move_cursor(row=_row(editor, "memory"))
        await pilot.press("enter")
        reason = await refused_answer(pilot, "+128M")
        assert "memory hot-plug is not configured" in reason
        assert "the maximum changes in the saved definition only" in reason
        assert editor.pending == []


#: A path longer than the preview's After column at 80 columns: it folds, whole.
LONG_ISO = "/isos/debian-12.8.0-amd64-netinst-with-nonfree-firmware-and-preseed.iso"


@run_async
async def test_the_preview_at_80x24_shows_every_character_of_a_long_after_text() -> None:
    app = build_app(URI, stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_config_editor(pilot, "db-replica")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ValueScreen), "the question")
        app.screen.query_one(Input).value = f"scsi {LONG_ISO}"  # set: 77 key presses take 5 s
        await pilot.press("enter")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview")
        await pilot.pause()
        preview = app.screen
        assert isinstance(preview, PreviewScreen) and editor.pending
        lines = [strip.text for strip in app.screen._compositor.render_strips()]
    assert all(len(line) == 80 for line in lines)
    headers = [n for n, line in enumerate(lines) if "After" in line and "Goes to" in line]
    assert headers, "the preview's columns are cut at 80 columns:\n" + "\n".join(lines)
    header = headers[0]
    after, goes_to = lines[header].index("After"), lines[header].index("Goes to")
    rows = lines[header + 1 :]
    assert "saved" in rows[0][goes_to:]  # the last column is on screen too
    column = "".join(line[after:goes_to] for line in rows if line[after:goes_to].strip())
    wanted = preview.rows[0].after
    assert LONG_ISO in wanted and wanted.startswith("sdb (scsi): ")
    assert column.replace(" ", "").startswith(wanted.replace(" ", ""))


@run_async
async def test_a_new_nic_keeps_the_mac_the_preview_showed() -> None:
    """The MAC of a new NIC is picked when the NIC is added: the pending list, the preview
    and the plan that apply makes again all have the same one (before, each plan picked
    a new one, so the guest got another MAC than the preview showed)."""
    app = build_app(URI, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        editor = await open_config_editor(pilot, "db-replica")  # shut off: saved only
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, AttachNicScreen), "the NIC form")
        app.screen.query_one("#nic-source", Input).value = "default"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(editor.pending) == 1, "the NIC pending")
        change = editor.pending[0]
        assert isinstance(change, AttachNic) and change.mac is not None
        assert change.mac in str(editor.query_one("#config-pending").render())
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview")
        preview = app.screen
        assert isinstance(preview, PreviewScreen)
        assert preview.rows[0].after.startswith(change.mac)
        config = editor.config
        assert config is not None
        for _apply in range(2):  # apply plans the pending changes again: the same MAC
            steps = plan_changes(config, editor.pending, Scope.CONFIG)
            assert [s.change.mac for s in steps if isinstance(s.change, AttachNic)] == [change.mac]
        # test:/// cannot attach devices: tests/daemon/test_config_edit_daemon.py applies NICs


@run_async
async def test_a_refused_nic_keeps_the_form_open_with_what_was_typed() -> None:
    """A NIC the plan refuses (a network NIC without a source) is said in the form, which
    stays open with the typed model; nothing is pending until the form's answer is taken."""
    app = build_app(URI, stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_config_editor(pilot, "db-replica")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, AttachNicScreen), "the NIC form")
        form = app.screen
        form.query_one("#nic-model", Input).value = "e1000e"
        await pilot.press("ctrl+s")
        line = form.query_one(f"#{ERROR_ID}", Static)
        await wait_for(pilot, lambda: line.display, "the refusal in the form")
        assert "a network NIC needs a source" in str(line.render())
        assert app.screen is form and editor.pending == []
        assert form.query_one("#nic-model", Input).value == "e1000e"
        form.query_one("#nic-source", Input).value = "default"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is editor, "the form to close")
        change = editor.pending[0]
        assert isinstance(change, AttachNic) and (change.source, change.model) == (
            "default", "e1000e"
        )  # fmt: skip
