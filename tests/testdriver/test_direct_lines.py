"""Lines that skip Textual's styles cache (tui.widgets.direct_lines) look the same as
lines drawn through it, and a stylesheet that adds a border still gets its border."""

from __future__ import annotations

from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from kvmtui.screens.guests import GuestsScreen
from kvmtui.tui.widgets.direct_lines import DirectLines
from tests.pilot import build_app, loaded, run_async, wait_for
from tests.replay import RECORDED_TICKS, replay


def _styles_cache_lines(widget: DirectLines, crop: Region) -> list[Strip]:
    """What Textual's own path draws for ``crop`` (the styles cache, its filters)."""
    widget._styles_cache.clear()
    return Widget.render_lines(widget, crop)


def _cells(strips: list[Strip]) -> list[list[tuple[str, object]]]:
    """Each line as (character, style) per cell: equal lines, however segmented."""
    out = []
    for strip in strips:
        cells = []
        for segment in strip:
            cells.extend((ch, segment.style) for ch in segment.text)
        out.append(cells)
    return out


@run_async
async def test_guest_table_direct_lines_match_the_styles_cache(test_node_uri: str) -> None:
    app = build_app(test_node_uri, stats=replay())
    app.animation_level = "none"
    async with app.run_test(size=(150, 20)) as pilot:
        screen = await loaded(pilot, 13)
        await wait_for(
            pilot, lambda: screen.table.stats_tick("test:node") == RECORDED_TICKS - 1, "replay"
        )
        table = screen.table
        assert isinstance(screen, GuestsScreen) and table.direct
        # A cursor row, statistics with colours, the header and blank lines below.
        crop = table.size.region
        direct = table.render_lines(crop)
        through_cache = _styles_cache_lines(table, crop)
        assert len(direct) == len(through_cache) == table.size.height
        assert _cells(direct) == _cells(through_cache)
        # The same with a clipped crop (the compositor asks for part of a widget).
        part = Region(3, 2, 40, 5)
        assert _cells(table.render_lines(part)) == _cells(_styles_cache_lines(table, part))

        # The table filters its styles itself (prefiltered): another colour mode (native
        # ANSI colours: no truecolor filter) must reach rows built before the switch.
        named = [s.style for s in direct[2] if s.style and s.style.color]
        assert named and all(s.color.is_system_defined is False for s in named)
        app.ansi_color = True
        await pilot.pause()
        after = table.render_lines(crop)
        assert _cells(after) == _cells(_styles_cache_lines(table, crop))
        assert any(
            s.style is not None and s.style.color is not None and s.style.color.is_system_defined
            for line in after
            for s in line
        ), "the state colours are the terminal's own again"


@run_async
async def test_a_border_from_css_falls_back_to_the_styles_cache(test_node_uri: str) -> None:
    app = build_app(test_node_uri, stats=False)
    app.animation_level = "none"
    async with app.run_test(size=(120, 20)) as pilot:
        screen = await loaded(pilot, 13)
        table = screen.table
        table.styles.border = ("round", "red")
        await pilot.pause()
        assert not table.direct
        lines = [strip.text for strip in table.render_lines(table.size.region)]
        assert lines[0].startswith("╭─") and lines[1].startswith("│")
        table.styles.border = ("none", "red")
        await pilot.pause()
        assert table.direct
