"""Property tests: arbitrary bytes never raise and never grow the terminal without bound."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.style import Style

from kvmtui.tui.widgets.term_screen import TermScreen, TermStream
from kvmtui.tui.widgets.terminal import Terminal

COLUMNS, LINES, SCROLLBACK = 30, 8, 50

# Bytes biased towards what breaks parsers: escapes, CSI with huge or many parameters,
# truncated sequences, invalid UTF-8, control characters.
_PIECES = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [b"\x1b", b"\x1b[", b"\x1b]", b"\x1b(0", b"\x1b)0", b"\x0e", b"\x0f", b"\x1b%@",
         b"\x1b%G", b"\xff\xfe", b"\xe4\xb8", b"\x9b", b"\x1bc", b"\x1b[?1049h",
         b"\x1b[?1049l", b"\x1b[?3h", b"\x1b[?6h", b"\x1b[r", b"\x1b[2;5r", b"\n", b"\r"]
    ),
    st.builds(
        lambda params, final: b"\x1b[" + b";".join(b"%d" % p for p in params) + final,
        st.lists(st.integers(0, 10**12), max_size=40),
        st.sampled_from([b"m", b"H", b"J", b"K", b"L", b"M", b"P", b"@", b"X", b"r", b"n",
                         b"c", b"h", b"l", b"A", b"G", b"d", b"g", b"S", b"T", b"t"]),
    ),
)  # fmt: skip


def _terminal_for_rendering() -> Terminal:
    terminal = Terminal(scrollback=SCROLLBACK, columns=COLUMNS, lines=LINES)
    terminal._base_style = Style()  # rendering without mounting: a plain base style
    return terminal


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=40))
def test_arbitrary_bytes_neither_raise_nor_grow_without_bound(pieces: list[bytes]) -> None:
    screen = TermScreen(COLUMNS, LINES, SCROLLBACK)
    stream = TermStream(screen)
    for piece in pieces:
        stream.feed(piece)
    screen.take_responses()
    # The widget owns the size: no escape sequence may change it.
    assert (screen.columns, screen.lines) == (COLUMNS, LINES)
    assert len(screen.history) <= SCROLLBACK
    assert all(0 <= y < LINES for y in screen.buffer)
    assert all(x < COLUMNS for line in screen.buffer.values() for x in line)
    assert 0 <= screen.cursor.y < LINES and 0 <= screen.cursor.x <= COLUMNS
    assert len(screen.responses) == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(_PIECES, max_size=30))
def test_arbitrary_bytes_render_to_full_width_lines(pieces: list[bytes]) -> None:
    terminal = _terminal_for_rendering()
    for piece in pieces:
        terminal.stream.feed(piece)
    screen = terminal.screen_state
    for y in range(LINES):
        segments = terminal._segments(screen.buffer[y], screen.columns, -1)
        assert sum(segment.cell_length for segment in segments) <= COLUMNS + 1


def test_a_long_flood_keeps_history_at_its_cap() -> None:
    screen = TermScreen(COLUMNS, LINES, SCROLLBACK)
    stream = TermStream(screen)
    stream.feed(b"x\r\n" * (SCROLLBACK * 10))
    assert len(screen.history) == SCROLLBACK


def test_an_unterminated_title_or_csi_is_dropped_not_kept_forever() -> None:
    """ESC ] 0 ; followed by megabytes and no BEL must not grow pyte's parameter text."""
    screen = TermScreen(COLUMNS, LINES, SCROLLBACK)
    stream = TermStream(screen)
    stream.feed(b"\x1b]0;" + b"A" * 1_000_000)
    stream.feed(b"\x1b[" + b"9" * 1_000_000)
    assert stream.errors >= 2
    # The parser is back at plain text: what follows is drawn as usual.
    stream.feed(b"\r\nhello")
    assert "hello" in "".join(screen.display)


def test_origin_mode_without_margins_keeps_the_cursor_on_screen() -> None:
    """Found by hypothesis: DECOM on with no margins set left pyte's cursor below the
    last line (pyte asserted half-way through moving it)."""
    screen = TermScreen(COLUMNS, LINES, SCROLLBACK)
    stream = TermStream(screen)
    stream.feed(b"\x1b[6?h\x1b[99d")
    assert screen.cursor.y == LINES - 1
    stream.feed(b"\x1b[3;5H")  # relative to the (full-screen) margins
    assert (screen.cursor.y, screen.cursor.x) == (2, 4)
