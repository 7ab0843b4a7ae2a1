"""The raw XML editor driven with the Pilot on libvirt's test:/// driver: E opens the saved
definition; a malformed text is refused in place; ctrl+s shows the diff, escape on it
changes nothing, y saves through libvirt's validation; a schema refusal keeps the editor
open with the text; read-only opens a viewer. State is read back through the app's own
Host (the test driver keeps state per connection)."""

from __future__ import annotations

import libvirt
import pytest
from textual.pilot import Pilot

from kvmtui.backend.host import Host
from kvmtui.screens.xml_editor import XmlDiffScreen, XmlEditorScreen
from kvmtui.tui.app import KvmtuiApp, make_app
from tests.pilot import open_xml_editor, run_async, wait_for

SAVED = libvirt.VIR_DOMAIN_XML_INACTIVE
GUEST = "db-primary"

pytestmark = pytest.mark.usefixtures("utc")


def build(uri: str, *, readonly: bool = False) -> KvmtuiApp:
    app = make_app([uri], readonly=readonly, retry_delays=(3600.0,), stats=False)
    app.animation_level = "none"
    return app


def saved_xml(host: Host) -> str:
    return str(host.connection().lookupByName(GUEST).XMLDesc(SAVED))


async def open_editor(pilot: Pilot[None]) -> XmlEditorScreen:
    return await open_xml_editor(pilot, GUEST)


def status(editor: XmlEditorScreen) -> str:
    return str(editor.query_one("#xml-status").render())


@run_async
async def test_e_opens_the_saved_definition_and_a_malformed_edit_is_refused_in_place(
    test_node_uri: str,
) -> None:
    app = build(test_node_uri)
    async with app.run_test(size=(120, 40)) as pilot:
        editor = await open_editor(pilot)
        host = app.hosts[0]
        before = saved_xml(host)
        assert editor.text_area.text == before
        assert editor.text_area.language == "xml"
        broken = before.replace("</devices>", "<devices>")
        editor.text_area.load_text(broken)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "malformed" in status(editor), "the refusal")
        assert app.screen is editor  # no diff: nothing to confirm
        assert editor.text_area.text == broken
        assert editor.text_area.cursor_location[0] == len(broken.splitlines()) - 1
        assert saved_xml(host) == before


@run_async
async def test_escape_on_the_diff_changes_nothing_and_y_saves(test_node_uri: str) -> None:
    app = build(test_node_uri)
    async with app.run_test(size=(120, 40)) as pilot:
        editor = await open_editor(pilot)
        host = app.hosts[0]
        before = saved_xml(host)
        edited = before.replace("</uuid>", "</uuid>\n  <description>primary DB</description>")
        editor.text_area.load_text(edited)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, XmlDiffScreen), "the diff")
        diff = app.screen
        assert isinstance(diff, XmlDiffScreen)
        assert "+  <description>primary DB</description>" in diff.prepared.diff
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is editor, "back in the editor")
        assert saved_xml(host) == before
        assert editor.text_area.text == edited

        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, XmlDiffScreen), "the diff again")
        await pilot.press("y")
        await wait_for(pilot, lambda: editor not in app.screen_stack, "the editor to close")
        assert "<description>primary DB</description>" in saved_xml(host)


@run_async
async def test_a_schema_refusal_keeps_the_editor_open_with_the_text(test_node_uri: str) -> None:
    app = build(test_node_uri)
    async with app.run_test(size=(120, 40)) as pilot:
        editor = await open_editor(pilot)
        host = app.hosts[0]
        before = saved_xml(host)
        edited = before.replace("</devices>", "  <frobnicator/>\n  </devices>")
        editor.text_area.load_text(edited)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, XmlDiffScreen), "the diff")
        await pilot.press("y")
        await wait_for(pilot, lambda: "libvirt refused" in status(editor), "libvirt's refusal")
        assert app.screen is editor
        assert "failed to validate against schema" in status(editor)
        assert editor.text_area.text == edited
        devices = next(n for n, line in enumerate(edited.splitlines()) if "<devices>" in line)
        assert editor.text_area.cursor_location[0] == devices
        assert saved_xml(host) == before


@run_async
async def test_read_only_opens_a_viewer(test_node_uri: str) -> None:
    app = build(test_node_uri, readonly=True)
    async with app.run_test(size=(120, 40)) as pilot:
        editor = await open_editor(pilot)
        assert editor.text_area.read_only
        assert editor.check_action("save", ()) is None
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is editor
        await pilot.press("escape")
        await wait_for(pilot, lambda: editor not in app.screen_stack, "the viewer to close")


@run_async
async def test_a_long_changed_line_is_not_cut_in_the_diff_at_80x24(test_node_uri: str) -> None:
    """At 80x24 a changed line wider than the screen keeps its end: the diff scrolls
    sideways (right arrow) instead of cutting the line where the change may be."""
    app = build(test_node_uri)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_editor(pilot)
        tail = "the end of a long line"
        line = "  <description>" + "x" * 90 + f" {tail}</description>"
        editor.text_area.load_text(
            editor.text_area.text.replace("</uuid>", "</uuid>\n" + line)
        )
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, XmlDiffScreen), "the diff")
        await pilot.pause()
        body = app.screen.query_one("#diff-body")
        text = app.screen.query_one("#diff-text")
        assert text.size.width >= len("+" + line)  # laid out whole, not cut at the edge
        assert body.max_scroll_x > 0 and body.scroll_x == 0
        for _ in range(4):
            await pilot.press("right")
        await wait_for(pilot, lambda: body.scroll_x > 0, "the diff to scroll sideways")
