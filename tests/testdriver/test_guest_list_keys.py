"""Moving through a long guest list with the keyboard (libvirt's test:/// driver)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import node_uri
from tests.pilot import build_app, loaded, run_async, wait_for

GUESTS = 100


@pytest.fixture
def many_guests_uri(tmp_path: Path) -> str:
    """A test:/// host of GUESTS shut-off guests, more than a few pages at 80x24."""
    domains = "".join(
        f"<domain type='test'><name>guest-{index:03d}</name>"
        f"<uuid>6695eb01-f6a4-8304-79aa-{index:012d}</uuid>"
        "<memory unit='KiB'>1048576</memory><vcpu>1</vcpu><os><type>hvm</type></os>"
        "<test:runstate xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>5"
        "</test:runstate></domain>"
        for index in range(GUESTS)
    )
    node = tmp_path / "many.xml"
    node.write_text(
        "<node><cpu><mhz>2400</mhz><nodes>1</nodes><sockets>1</sockets><cores>4</cores>"
        f"<threads>2</threads></cpu><memory>33554432</memory>{domains}</node>"
    )
    return node_uri(node)


@run_async
async def test_page_down_from_the_top_row_turns_a_whole_page(many_guests_uri: str) -> None:
    app = build_app(many_guests_uri, stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        table = (await loaded(pilot, GUESTS)).table
        await wait_for(pilot, lambda: table.max_scroll_y > 0, "the table laid out")
        page = len(table.visible_keys())
        assert 10 < page < GUESTS // 2
        assert table.cursor_row == 0 and table.scroll_y == 0

        for top in (page, 2 * page):
            await pilot.press("pagedown")
            await wait_for(pilot, lambda top=top: table.cursor_row == top, f"row {top}")
            assert table.scroll_y == top, "the view turns a page, not one row"
            assert table.selected_key == table.ordered_keys()[int(table.scroll_y)], (
                "the cursor keeps its line at the top of the page"
            )

        await pilot.press("pageup")
        await wait_for(pilot, lambda: table.cursor_row == page, "a page back")
        assert table.scroll_y == page
        await pilot.press("pageup")
        await wait_for(pilot, lambda: table.cursor_row == 0, "the top")
        assert table.scroll_y == 0
