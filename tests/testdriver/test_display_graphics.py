"""Terminal pictures of a guest's screen (``--graphics``): the choice of protocol, and what
reaches the terminal for kitty's protocol and for Sixel, from the recorded frame.

No terminal here draws pictures, so the tests read what would be sent: kitty's
messages go to standard output (textual-image writes them there, beside Textual's
frames on standard error); Sixel data sits in the lines the widget renders.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat
from textual.app import App, ComposeResult
from textual.geometry import Region

from kvmtui.tui.graphics import Graphics, choose, hinted
from kvmtui.tui.widgets.screen_picture import ScreenPicture, fit_pixels
from tests.kitty import kitty_messages, picture, sent_pictures
from tests.pilot import run_async, wait_for

FRAME = Path(__file__).parents[1] / "data" / "display-frame.ppm"
SIZE = (80, 24)
#: textual-image's cell size where the terminal tells none (VT340's).
CELL = (10, 20)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TERM": "xterm-kitty"}, Graphics.KITTY),
        ({"TERM": "xterm-256color", "KITTY_WINDOW_ID": "1"}, Graphics.KITTY),
        ({"TERM": "foot-extra"}, Graphics.SIXEL),
        ({"TERM": "wezterm"}, Graphics.SIXEL),
        ({"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"}, Graphics.SIXEL),
        ({"TERM": "xterm-kitty", "TMUX": "/tmp/tmux-0/default,1,0"}, Graphics.TEXT),
        ({"TERM": "xterm-256color"}, Graphics.TEXT),
        ({"TERM": "linux"}, Graphics.TEXT),
        ({}, Graphics.TEXT),
    ],
)
def test_the_environment_names_the_protocol(env: dict[str, str], expected: Graphics) -> None:
    assert hinted(env) is expected


def test_forced_choices_win_and_off_a_terminal_auto_draws_text() -> None:
    kitty = {"TERM": "xterm-kitty"}
    assert choose("text", kitty, on_terminal=True) is Graphics.TEXT
    assert choose("sixel", kitty, on_terminal=True) is Graphics.SIXEL
    assert choose("kitty", {}, on_terminal=False) is Graphics.KITTY
    assert choose("auto", kitty, on_terminal=False) is Graphics.TEXT
    assert choose("probe", kitty, on_terminal=False) is Graphics.TEXT
    assert choose("auto", kitty, on_terminal=True) is Graphics.KITTY


def test_text_never_loads_the_picture_library() -> None:
    """Half-blocks cost nothing at start: textual-image (which questions the terminal on
    import) is loaded only when pictures are chosen."""
    code = (
        "import sys; from kvmtui.tui.graphics import choose; "
        "choose('auto', {'TERM': 'xterm'}, True); "
        "assert 'textual_image' not in sys.modules, 'loaded for text'; "
        "choose('kitty', {}, False); "
        "assert 'textual_image' in sys.modules, 'not loaded for kitty'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_picture_keeps_the_aspect_and_fits_the_pane() -> None:
    # 800x444 at the frame's aspect; whole cells: 80 columns, 22 rows.
    assert fit_pixels((720, 400), (80, 24), CELL) == (800, 440)
    assert fit_pixels((1024, 768), (120, 40), CELL) == (1060, 800)
    assert fit_pixels((720, 400), (0, 24), CELL) == (0, 0)


class PictureApp(App[None]):
    def __init__(self, graphics: Graphics) -> None:
        super().__init__()
        self.graphics = graphics

    def compose(self) -> ComposeResult:
        yield ScreenPicture(self.graphics)

    def show(self, image: Image.Image) -> None:
        self.query_one(ScreenPicture).show(image)


def frame() -> Image.Image:
    with Image.open(FRAME) as image:
        return image.convert("RGB")


def mean_difference(one: Image.Image, other: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(one, other)).mean) / 3


@run_async
async def test_kitty_gets_the_frame_scaled_to_the_pane_and_frees_the_last_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent = io.StringIO()
    monkeypatch.setattr(sys, "__stdout__", sent)
    app = PictureApp(Graphics.KITTY)
    async with app.run_test(size=SIZE) as pilot:
        app.show(frame())
        await wait_for(pilot, lambda: "\x1b_G" in sent.getvalue(), "the picture sent")
        await pilot.pause()
        ids = sent_pictures(sent.getvalue())
        assert len(ids) == 1, ids
        sent_picture = picture(sent.getvalue(), ids[0])
        # The pane's size in pixels with the frame's aspect: no more is sent than shown.
        assert sent_picture.size == fit_pixels((720, 400), SIZE, CELL)
        expected = frame().resize(sent_picture.size, Image.Resampling.BILINEAR)
        assert mean_difference(sent_picture, expected) < 2.0
        # The cells are kitty's placeholders (the terminal draws the picture over them).
        cells = app.query_one(".picture").render_line(0).text
        assert cells.startswith("\U0010eeee") and cells.count("\U0010eeee") == SIZE[0]

        # A new frame: sent anew, and the terminal told to drop the previous picture.
        app.show(frame().transpose(Image.Transpose.FLIP_TOP_BOTTOM))
        first = ids[0]
        await wait_for(
            pilot,
            lambda: any(
                keys.get("a") == "d" and keys.get("I") == first
                for keys, _ in kitty_messages(sent.getvalue())
            ),
            "the first picture freed",
        )
        await wait_for(
            pilot,
            lambda: len(sent_pictures(sent.getvalue())) == 2,
            "the second picture sent",
        )


@run_async
async def test_sixel_data_is_the_frame_in_the_rendered_lines() -> None:
    app = PictureApp(Graphics.SIXEL)
    async with app.run_test(size=SIZE) as pilot:
        app.show(frame())
        picture = app.query_one(ScreenPicture)

        def sixel() -> str:
            children = picture.query(".picture").first().children
            if not children:
                return ""
            lines = children[0].render_lines(Region(0, 0, *SIZE))
            return "".join(segment.text for line in lines for segment in line)

        await wait_for(pilot, lambda: "\x1bP" in sixel(), "Sixel data")
        data = sixel()
        start = data.index("\x1bP")
        body = data[start : data.index("\x1b\\", start)]
        # DCS ... q starts the picture; "#n;2;r;g;b" define its colours (percent).
        assert "q" in body[:12]
        colours = re.findall(r"#\d+;2;(\d+);(\d+);(\d+)", body)
        assert colours, "colour registers defined"
        # The frame is a black console with grey text: black and a light grey are there.
        assert ("0", "0", "0") in colours
        assert any(int(r) > 50 and r == g == b for r, g, b in colours)
