"""Line-API widgets whose lines go to the compositor without Textual's styles cache.

Textual draws a widget's lines through its styles cache: for every line of an update it
wraps the widget's ``render_line`` in the border, padding, outline, tint and opacity
machinery, builds a new :class:`~textual.strip.Strip`, and runs the app's line filters
over the new strip. For a widget with none of those styles that is pure overhead, and
on a busy tick it was most of the repaint: at 1,000 guests, 47 changed rows of the guest
list cost about 12 ms in the compositor, of which the table's own ``render_line`` was
under 2 ms (see docs/monitoring.md).

:class:`DirectLines` hands the widget's own strips to the compositor when its computed
styles are plain (no border, outline, padding, tint, hatch, text opacity; opacity 1), and
falls back to Textual's path otherwise, so a stylesheet that adds a border still works.
The app's line filters (ANSI colour to truecolor, NO_COLOR) still apply: through
``Strip.apply_filter``, whose result each strip caches, so a row that did not change
costs a dictionary lookup. A widget that builds its strips from a few styles can do
better with :class:`StyleFilter`: it filters each style once and says so
(``prefiltered``), and a new strip then costs no filter pass at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.css.styles import RenderStyles
from textual.filter import LineFilter
from textual.geometry import Region, Spacing
from textual.strip import Strip
from textual.widget import Widget

_NO_SPACING = Spacing(0, 0, 0, 0)


def plain_styles(styles: RenderStyles) -> bool:
    """True when the styles cache would draw nothing around or over a content line."""
    return (
        not any(edge for edge, _ in styles.border)
        and not any(edge for edge, _ in styles.outline)
        and styles.padding == _NO_SPACING
        and not styles.tint.a
        and styles.text_opacity == 1.0
        and (not styles.has_rule("hatch") or styles.hatch == "none")
    )


class StyleFilter:
    """The app's line filters applied to single styles, each style once.

    Textual's filters work segment by segment, each segment's style on its own, so a
    style filtered alone is what a strip of it would get. :meth:`sync` takes the
    filters and background of the coming update and says whether they changed since
    the last (a theme or colour-mode switch): strips built before then are stale.
    """

    def __init__(self) -> None:
        self._filters: tuple[LineFilter, ...] = ()
        self._background: Color | None = None
        self._cache: dict[Style, Style] = {}

    def sync(self, filters: Sequence[LineFilter], background: Color) -> bool:
        current = tuple(filters)
        if current == self._filters and background == self._background:
            return False
        self._filters, self._background = current, background
        self._cache.clear()
        return True

    def __call__(self, style: Style) -> Style:
        cached = self._cache.get(style)
        if cached is None:
            filtered: Style | None = style
            if self._background is not None:
                for line_filter in self._filters:
                    (segment,) = line_filter.apply([Segment(" ", filtered)], self._background)
                    filtered = segment.style
            cached = self._cache[style] = filtered or Style()
        return cached

    def strip(self, strip: Strip) -> Strip:
        """A strip made some other way, filtered as a whole (cached on the strip)."""
        if self._background is not None:
            for line_filter in self._filters:
                strip = strip.apply_filter(line_filter, self._background)
        return strip


class DirectLines(Widget):
    """A mixin for Line-API widgets (``render_line``) with plain CSS: see the module."""

    #: True when ``direct_lines`` returns strips already through the app's line filters.
    prefiltered: ClassVar[bool] = False

    @property
    def direct(self) -> bool:
        """Whether lines skip the styles cache now (plain styles, fully opaque).

        Worked out on every update (tens of microseconds): inline style changes
        (``widget.styles.border = ...``) do not pass through ``notify_style_update``.
        """
        return plain_styles(self.styles) and self.opacity == 1.0

    def direct_lines(self, lines: range) -> list[Strip]:
        """Content lines ``lines`` as ``render_line`` draws them (a widget may override
        this to work out its width or style once for all of them)."""
        return [self.render_line(y) for y in lines]

    def render_lines(self, crop: Region) -> list[Strip]:
        if not self.direct:
            return super().render_lines(crop)
        filters = self.get_line_filters()
        strips = self.direct_lines(crop.line_range)
        if filters and not self.prefiltered:
            background = self.background_colors[1]
            for line_filter in filters:
                strips = [strip.apply_filter(line_filter, background) for strip in strips]
        x1, x2 = crop.column_span
        if x1 or x2 < self.size.width:
            # The compositor asks for the widget's whole width but for a clipped
            # widget; strips shorter than the crop (a scrollbar beside) stay as they are.
            strips = [strip.crop(x1, x2) for strip in strips]
        return strips
