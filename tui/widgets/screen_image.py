"""A guest's screen drawn as half-block cells: ``▀`` with the upper pixel as foreground
and the lower as background, two pixels per cell, true colour.

The frame is scaled with Pillow to the widget's size keeping its aspect ratio, once per
frame and size; ``render_line`` then only joins runs of one style. Where the terminal
has no true colour, Rich's colour downgrade (done by Textual's driver for every style)
maps each colour to the nearest of 256 or 16.

Keys pressed here go to the guest: the widget posts :class:`ScreenImage.KeyPressed` with
the Linux keycodes of every key in the table except the screen's reserved ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from kvmtui.backend.display import RGB, half_block_rows, scale
from kvmtui.backend.display_keys import key_codes

UPPER_HALF = "▀"

_styles: dict[tuple[RGB, RGB], Style] = {}


def cell_style(upper: RGB, lower: RGB) -> Style:
    """The style of one half-block cell (cached: a console shows a handful of colours)."""
    key = (upper, lower)
    style = _styles.get(key)
    if style is None:
        if len(_styles) > 65536:
            _styles.clear()
        style = Style.from_color(Color.from_rgb(*upper), Color.from_rgb(*lower))
        _styles[key] = style
    return style


def row_segments(cells: list[tuple[RGB, RGB]]) -> list[Segment]:
    """One cell row as segments, one per run of equal cells."""
    segments: list[Segment] = []
    run_start = 0
    for index in range(1, len(cells) + 1):
        if index == len(cells) or cells[index] != cells[run_start]:
            upper, lower = cells[run_start]
            segments.append(Segment(UPPER_HALF * (index - run_start), cell_style(upper, lower)))
            run_start = index
    return segments


class ScreenImage(Widget, can_focus=True):
    """The latest frame, scaled to fit; keys go to the guest."""

    DEFAULT_CSS = """
    ScreenImage { width: 1fr; height: 1fr; background: black; }
    """

    @dataclass
    class KeyPressed(Message):
        key: str
        codes: tuple[int, ...]

    def __init__(
        self, *, reserved_keys: frozenset[str] = frozenset(), id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.reserved_keys = reserved_keys
        self.image: Image.Image | None = None
        self._rows: list[list[tuple[RGB, RGB]]] = []
        self._lines: list[Strip] = []
        self._fitted_to: tuple[int, int] | None = None

    def show(self, image: Image.Image) -> None:
        """Draw a new frame."""
        self.image = image
        self._fitted_to = None
        self.refresh()

    def cell_rows(self) -> list[list[tuple[RGB, RGB]]]:
        """What is drawn: per cell row, per column, (upper, lower) colours."""
        self._fit()
        return self._rows

    def _fit(self) -> None:
        size = (self.size.width, self.size.height)
        if self._fitted_to == size:
            return
        self._fitted_to = size
        if self.image is None or size[0] <= 0 or size[1] <= 0:
            self._rows, self._lines = [], []
            return
        self._rows = half_block_rows(scale(self.image, *size))
        self._lines = [Strip(row_segments(row)) for row in self._rows]

    def render_line(self, y: int) -> Strip:
        self._fit()
        width = self.size.width
        if y < len(self._lines):
            return self._lines[y].extend_cell_length(width, self.rich_style)
        return Strip.blank(width, self.rich_style)

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return key not in self.reserved_keys

    def on_key(self, event: events.Key) -> None:
        if event.key in self.reserved_keys:
            return
        event.stop()
        event.prevent_default()
        codes = key_codes(event.key, event.character)
        if codes:
            self.post_message(self.KeyPressed(event.key, codes))
