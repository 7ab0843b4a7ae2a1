"""Notifications show guest names as typed, never as markup (which would hide part of
the name and could turn it into a clickable action)."""

from __future__ import annotations

from pathlib import Path

from conftest import node_uri
from kvmtui.backend.model import GuestState
from tests.pilot import build_app, loaded, row_state, run_async, select, wait_for

MARKUP_NODE = Path(__file__).parents[1] / "data" / "markup_names_node.xml"
NAME = "web [b]x [@click=app.quit]q"


@run_async
async def test_a_sentence_naming_a_markup_guest_is_shown_literally() -> None:
    app = build_app(node_uri(MARKUP_NODE))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        await select(pilot, screen.table, NAME)
        await pilot.press("p")
        await wait_for(
            pilot, lambda: row_state(screen.table, NAME) is GuestState.PAUSED, "paused"
        )
        await wait_for(
            pilot,
            lambda: any(NAME in n.message for n in app._notifications),
            "a notification naming the guest",
        )
        await pilot.pause()
        assert app.is_running
        shown = [n for n in app._notifications if NAME in n.message]
        assert all(not n.markup for n in shown)
