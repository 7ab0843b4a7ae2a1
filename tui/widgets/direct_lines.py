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
costs a dictionary lookup.
"""

from __future__ import annotations

from textual.css.styles import RenderStyles
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


class DirectLines(Widget):
    """A mixin for Line-API widgets (``render_line``) with plain CSS: see the module."""

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
        if filters:
            background = self.background_colors[1]
            for line_filter in filters:
                strips = [strip.apply_filter(line_filter, background) for strip in strips]
        x1, x2 = crop.column_span
        if x1 or x2 < self.size.width:
            # The compositor asks for the widget's whole width but for a clipped
            # widget; strips shorter than the crop (a scrollbar beside) stay as they are.
            strips = [strip.crop(x1, x2) for strip in strips]
        return strips
