"""The KSM tuning questions on test:/// with replayed KSM readings (tests/ksm_replay.py)."""

from __future__ import annotations

import pytest
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Input, Static

from kvmtui.screens.ksm_tune import KsmTuneScreen
from tests.ksm_replay import open_ksm
from tests.pilot import STORAGE_NODE_URI, build_app, run_async, wait_for


def shown_whole(widget: Widget) -> bool:
    """The widget has room, lies inside the terminal and nothing covers its first cell."""
    screen_region = Region(0, 0, *widget.app.size)
    region = widget.region
    if not region or not screen_region.contains_region(region):
        return False
    top, _ = widget.screen.get_widget_at(region.x, region.y)
    return top is widget


@pytest.mark.parametrize("typed", ["abc", "9" * 120])
@run_async
async def test_a_refused_value_keeps_the_field_in_sight(typed: str) -> None:
    app = build_app(STORAGE_NODE_URI, stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_ksm(pilot)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, KsmTuneScreen), "the question")
        dialog = app.screen
        assert isinstance(dialog, KsmTuneScreen)
        field = dialog.query_one("#tune-new", Input)
        message = dialog.query_one("#tune-error", Static)
        await pilot.press("ctrl+a", "ctrl+k", *typed, "enter")
        await wait_for(pilot, lambda: "Nothing was changed" in dialog.error_text, "the refusal")
        await pilot.pause()

        assert app.screen is dialog, "a refused value keeps the question open"
        assert shown_whole(field), f"the field is hidden: {field.region}"
        assert field.value == typed and app.focused is field, "the typed text stays to fix"
        assert shown_whole(message)
        assert message.region.y > field.region.bottom, "a blank line between field and message"
