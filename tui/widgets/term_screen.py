"""The emulated screen behind the console widget: pyte, plus what a console needs.

``pyte.Screen`` with scrollback kept by overriding ``index()`` (``HistoryScreen`` wraps
every attribute access and is 3-4x slower), the alternate screen of full-screen
programs (modes 47/1047/1049, which pyte 0.8.2 ignores), answers to terminal queries
collected for the caller to send back, and a fast path for runs of printable ASCII.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

import pyte
from pyte import modes as mo
from pyte.screens import Char, StaticDefaultDict

Line = StaticDefaultDict[int, Char]

DEFAULT_SCROLLBACK = 10_000
DECCKM = 1 << 5  # application cursor keys (pyte keeps private modes shifted by 5)
BRACKETED_PASTE = 2004 << 5
_ALT_SCREEN_MODES = {47 << 5, 1047 << 5, 1049 << 5}
_IGNORED_PRIVATE = {mo.DECCOLM}  # the widget owns the size: no 80/132-column switching


class TermScreen(pyte.Screen):
    """A pyte screen with bounded scrollback, the alternate screen and query answers."""

    def __init__(self, columns: int, lines: int, scrollback: int = DEFAULT_SCROLLBACK) -> None:
        self.history: deque[Line] = deque(maxlen=scrollback)
        self.responses: list[str] = []
        self.lines_scrolled = 0  # lines ever pushed into the history
        self.alternate = False
        self._saved_buffer: Any = None
        self._cells: dict[Char, dict[str, Char]] = {}
        super().__init__(columns, lines)

    # -- modes -----------------------------------------------------------------------

    @property
    def application_cursor(self) -> bool:
        return DECCKM in self.mode

    @property
    def bracketed_paste(self) -> bool:
        return BRACKETED_PASTE in self.mode

    @property
    def cursor_visible(self) -> bool:
        return not self.cursor.hidden

    def _origin_margins(self) -> None:
        """pyte assumes margins exist whenever origin mode (DECOM) is on; a guest can turn
        it on without setting any, and pyte then fails half-way with the cursor off the
        screen. Full-screen margins are what no margins mean."""
        if self.margins is None and mo.DECOM in self.mode:
            self.margins = pyte.screens.Margins(0, self.lines - 1)

    def cursor_position(self, line: int | None = None, column: int | None = None) -> None:
        self._origin_margins()
        super().cursor_position(line, column)

    def cursor_to_line(self, line: int | None = None) -> None:
        self._origin_margins()
        super().cursor_to_line(line)

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        private = kwargs.get("private", False)
        if private:
            wanted = [m for m in modes if (m << 5) not in _IGNORED_PRIVATE]
            if any((m << 5) in _ALT_SCREEN_MODES for m in wanted):
                self._enter_alternate(save_cursor=1049 in wanted)
            modes = tuple(wanted)
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        private = kwargs.get("private", False)
        if private:
            wanted = [m for m in modes if (m << 5) not in _IGNORED_PRIVATE]
            if any((m << 5) in _ALT_SCREEN_MODES for m in wanted):
                self._leave_alternate(restore_cursor=1049 in wanted)
            modes = tuple(wanted)
        super().reset_mode(*modes, **kwargs)

    def _enter_alternate(self, *, save_cursor: bool) -> None:
        if self.alternate:
            return
        if save_cursor:
            self.save_cursor()
        self._saved_buffer = self.buffer
        self.buffer = defaultdict(lambda: StaticDefaultDict[int, Char](self.default_char))
        self.alternate = True
        self.dirty.update(range(self.lines))

    def _leave_alternate(self, *, restore_cursor: bool) -> None:
        if not self.alternate:
            return
        self.buffer = self._saved_buffer
        self._saved_buffer = None
        self.alternate = False
        if restore_cursor and self.savepoints:
            self.restore_cursor()
        self.dirty.update(range(self.lines))

    def reset(self) -> None:
        if getattr(self, "alternate", False):
            self._leave_alternate(restore_cursor=False)
        super().reset()

    # -- scrollback ------------------------------------------------------------------

    def index(self) -> None:
        """Keep the line leaving the top of a full-screen scroll region in the history."""
        top, bottom = self.margins or pyte.screens.Margins(0, self.lines - 1)
        if self.cursor.y == bottom and top == 0 and not self.alternate:
            self.history.append(self.buffer[0])
            self.lines_scrolled += 1
        super().index()

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        lines = lines or self.lines
        if lines < self.lines and not self.alternate:
            # pyte drops lines from the top when the screen shrinks; keep them.
            dropped = self.lines - lines
            self.history.extend(self.buffer[y] for y in range(dropped))
        super().resize(lines, columns)
        if self.alternate and self._saved_buffer is not None:
            columns = self.columns
            for line in self._saved_buffer.values():
                for x in [x for x in line if x >= columns]:
                    del line[x]

    # -- pyte 0.8.2 bugs that arbitrary input finds ----------------------------------

    def insert_characters(self, count: int | None = None) -> None:
        super().insert_characters(count)
        self.buffer[self.cursor.y].pop(self.columns, None)  # pyte writes one cell past the end

    def erase_in_line(self, how: int = 0, private: bool = False) -> None:
        if how in (0, 1, 2):
            super().erase_in_line(how, private)

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        if how == 3:  # xterm: erase the saved lines
            self.history.clear()
        elif how in (0, 1, 2):
            super().erase_in_display(how, *args, **kwargs)

    # -- answers to the guest's queries ---------------------------------------------

    def write_process_input(self, data: str) -> None:
        self.responses.append(data)

    def take_responses(self) -> bytes:
        if not self.responses:
            return b""
        data = "".join(self.responses).encode()
        self.responses.clear()
        return data

    # -- drawing ---------------------------------------------------------------------

    def draw(self, data: str) -> None:
        """Write a run of text; printable ASCII in auto-wrap mode skips pyte's per-char path."""
        if not (data.isascii() and data.isprintable()) or mo.IRM in self.mode:
            super().draw(data)
            return
        if mo.DECAWM not in self.mode:
            super().draw(data)
            return
        data = data.translate(self.g1_charset if self.charset else self.g0_charset)
        cursor = self.cursor
        attrs = cursor.attrs
        # One table of ready cells per attribute set: SGR builds a new (equal) attrs
        # tuple for every colour change, so key by value, not identity.
        chars = self._cells.get(attrs)
        if chars is None:
            if len(self._cells) > 256:
                self._cells.clear()
            chars = self._cells[attrs] = {}
        columns = self.columns
        buffer = self.buffer
        dirty = self.dirty
        pos, end = 0, len(data)
        while pos < end:
            if cursor.x >= columns:
                dirty.add(cursor.y)
                cursor.x = 0
                self.linefeed()
            x = cursor.x
            run = data[pos : pos + columns - x]
            for char in set(run).difference(chars):
                chars[char] = attrs._replace(data=char)
            cells = map(chars.__getitem__, run)
            buffer[cursor.y].update(zip(range(x, x + len(run)), cells, strict=True))
            cursor.x = x + len(run)
            pos += len(run)
        dirty.add(cursor.y)


#: The longest escape sequence kept: a guest that opens a title (OSC) or a CSI and never
#: ends it would otherwise grow pyte's parameter text without a bound.
MAX_SEQUENCE = 4096


class TermStream(pyte.ByteStream):
    """pyte's byte stream, decoding UTF-8 but honouring G0/G1 charsets and SI/SO.

    pyte ignores ``ESC ( 0`` (DEC line drawing) whenever it decodes UTF-8; xterm and the
    Linux console do not, and curses programs on a serial console draw boxes with it.
    """

    def __init__(self, screen: pyte.Screen) -> None:
        super().__init__(screen)
        self.decode_utf8 = True
        self.errors = 0  # malformed sequences skipped
        self.use_utf8 = False  # what the parser checks before designating charsets
        self._sequence_length = 0  # characters fed since the parser left plain text

    def feed(self, data: bytes) -> None:  # type: ignore[override]
        """pyte's feed loop, except that a bad sequence costs itself, not the whole chunk.

        pyte 0.8.2 raises on some malformed input (``CSI ? d``, ``CSI 4 J``...) and
        drops the rest of the chunk; here the parser restarts after the bad byte.
        """
        text = self.utf8_decoder.decode(data) if self.decode_utf8 else data.decode("latin-1")
        assert self.listener is not None
        send = self._send_to_parser
        draw = self.listener.draw
        match_text = self._text_pattern.match
        taking_plain_text = self._taking_plain_text
        length, offset = len(text), 0
        while offset < length:
            if taking_plain_text:
                self._sequence_length = 0
                match = match_text(text, offset)
                if match:
                    start, offset = match.span()
                    draw(text[start:offset])
                else:
                    taking_plain_text = False
            else:
                try:
                    taking_plain_text = send(text[offset])
                except Exception:  # pyte reset its parser; go on after the bad byte
                    self.errors += 1
                    taking_plain_text = self._taking_plain_text
                offset += 1
                self._sequence_length += 1
                if self._sequence_length > MAX_SEQUENCE and not taking_plain_text:
                    # An unterminated sequence: drop it, as a terminal drops garbage.
                    self.errors += 1
                    self._initialize_parser()
                    taking_plain_text = True
        self._taking_plain_text = taking_plain_text

    def select_other_charset(self, code: str) -> None:
        if code == "@":
            self.decode_utf8 = False
            self.utf8_decoder.reset()
        elif code in "G8":
            self.decode_utf8 = True
