"""Snapshots of the guest display: the recorded frame (tests/data/display-frame.ppm, a real
screenshot of the tiny guest's VGA text console) drawn as half-blocks, and the guest
list's help with `v` greyed out for a guest without a display.

Deterministic: the frame is a file, the half-blocks are computed from it alone (Pillow
pinned), and the help waits for the display lookup of the selected guest.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from kvmtui.screens.help import HelpScreen
from kvmtui.tui.widgets.screen_image import ScreenImage
from tests.pilot import build_app, display_known, select, ticked, wait_for

FRAME = Path(__file__).parent.parent / "tests" / "data" / "display-frame.ppm"

pytestmark = pytest.mark.usefixtures("utc")


class FrameApp(App[None]):
    """Only the drawing widget, showing the recorded frame."""

    def compose(self) -> ComposeResult:
        yield ScreenImage()

    def on_mount(self) -> None:
        with Image.open(FRAME) as image:
            self.query_one(ScreenImage).show(image.convert("RGB"))


def test_recorded_frame_80x24(snap_compare) -> None:
    """The 720x400 console at 80x24: 80 columns by 22 rows of half-blocks (the width
    limits), black background, the BusyBox banner and `kvmtui-guest# echo hi` as grey
    smudges in the upper left (text is finer than a cell), the SeaBIOS lines above them;
    the last two rows are blank."""
    assert snap_compare(FrameApp(), terminal_size=(80, 24))


def test_recorded_frame_120x40(snap_compare) -> None:
    """The same frame at 120x40: 120 columns by 34 rows, the text lines as separate grey
    streaks (six pixels a column), the rows below the image blank."""
    assert snap_compare(FrameApp(), terminal_size=(120, 40))


def test_display_key_disabled_without_a_display(snap_compare, test_node_uri: str) -> None:
    """'?' with the cursor on the running guest web-frontend-1 (no video device in its
    XML): the row `v Display` ends in "(disabled: this guest has no display; use the
    serial console)" with its key dimmed; the other tool keys are usable."""

    async def run_before(pilot: Pilot[None]) -> None:
        screen = await ticked(pilot)
        await select(pilot, screen.table, "web-frontend-1")
        await display_known(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "help")

    assert snap_compare(build_app(test_node_uri), terminal_size=(100, 40), run_before=run_before)
