"""A minimal line-based sparkline: block characters, no Fraction arithmetic.

Textual's stock ``Sparkline`` buckets with ``Fraction`` and costs about four times
more per refresh (PERF-NOTES); a guest table row or a details graph needs only one
line of eight block heights.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

_ODD, _EVEN = Style(meta={"spark-cell": 1}), Style(meta={"spark-cell": 0})

#: Heights 1/8 to 8/8; a gap (unknown) is a space, a known zero the lowest block.
BLOCKS = "▁▂▃▄▅▆▇█"


def spark(
    values: Sequence[float | None], width: int, top: float | None = None, *, stretch: bool = False
) -> str:
    """The last ``width`` values as block characters, right-aligned (newest at the end).

    ``top`` is the value of a full block (100 for percentages); without it the largest
    known value is. Unknown values are spaces. ``stretch`` spreads fewer values than
    ``width`` over the whole width (each value a few cells wide) instead of leaving
    the left part blank.
    """
    if width <= 0:
        return ""
    tail = values[-width:]
    if stretch and 0 < len(tail) < width:
        count = len(tail)
        tail = [tail[i * count // width] for i in range(width)]
    if top is not None:
        peak = top
    else:
        known = [v for v in tail if v is not None]
        peak = max(known) if known else 0.0
    last = len(BLOCKS) - 1
    # One comprehension, no per-value branches beyond these: every list row draws one.
    if peak <= 0:
        chars = [" " if v is None else BLOCKS[0] for v in tail]
    else:
        chars = [
            " " if v is None else BLOCKS[min(max(int(v / peak * last + 0.5), 0), last)]
            for v in tail
        ]
    return " " * (width - len(tail)) + "".join(chars)


class Sparkline(Widget):
    """One line of history; ``values`` oldest first, the newest drawn at the right edge."""

    DEFAULT_CSS = """
    Sparkline {
        height: 1;
        width: 1fr;
        color: $success;
    }
    """

    def __init__(
        self,
        values: Sequence[float | None] = (),
        *,
        top: float | None = None,
        stretch: bool = False,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._values: tuple[float | None, ...] = tuple(values)
        self.top = top
        self.stretch = stretch

    @property
    def values(self) -> tuple[float | None, ...]:
        return self._values

    def set_values(self, values: Sequence[float | None], top: float | None = None) -> None:
        values = tuple(values)
        if values != self._values or top != self.top:
            self._values, self.top = values, top
            self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y != 0:
            return Strip.blank(width, self.rich_style)
        text = spark(self._values, width, self.top, stretch=self.stretch)
        style = self.rich_style
        # One segment per block, neighbours in styles that differ only by meta: the
        # compositor never merges them, so each block keeps its own column even where
        # a renderer draws block glyphs wider or narrower than a cell (SVG viewers).
        odd, even = style + _ODD, style + _EVEN
        segments = [Segment(char, odd if i % 2 else even) for i, char in enumerate(text)]
        return Strip(segments, width)
