"""A terminal widget: pyte parses the guest's bytes, the Line API draws them.

Parse on receive, draw on a timer. ``feed()`` may be called from any thread: it appends
to a buffer and schedules at most one parsing callback on the event loop. Each callback
parses a bounded slice and yields, so a guest flooding its console cannot starve keys or
other widgets; when the backlog passes a high-water mark the widget asks its source to
pause (``on_flow(True)``) and lets it go again below the low-water mark. Parsing only
marks lines dirty; a 60 Hz timer, which runs only while something changed, refreshes
those lines. ``render_line`` builds one Segment per run of one style, through a cached
style map.

Keys go through the explicit table in term_keys.py and are always stopped here, so the
app's own bindings (Tab, Ctrl+C, Ctrl+Q...) reach the guest while the console has focus;
only the keys in ``reserved_keys`` (Ctrl+] to leave, the console screen's own keys) are
left to the screen's bindings.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer

from kvmtui.tui.widgets.direct_lines import DirectLines
from kvmtui.tui.widgets.term_keys import key_bytes
from kvmtui.tui.widgets.term_screen import DEFAULT_SCROLLBACK, Line, TermScreen, TermStream

LEAVE_KEY = "ctrl+right_square_bracket"
FRAME_S = 1 / 60
#: Parse for at most this long per event-loop turn before yielding.
FEED_SLICE_S = 0.004
FEED_CHUNK = 4096
#: Ask the source to pause above this many unparsed bytes; resume below the low mark.
HIGH_WATER = 16 * 1024
LOW_WATER = 4 * 1024

# pyte's colour names -> Rich's; 256-colour and true colour arrive as "rrggbb".
_NAMED = {
    "black": "black", "red": "red", "green": "green", "brown": "yellow",
    "yellow": "yellow", "blue": "blue", "magenta": "magenta", "cyan": "cyan",
    "white": "white", "brightblack": "bright_black", "brightred": "bright_red",
    "brightgreen": "bright_green", "brightbrown": "bright_yellow",
    "brightyellow": "bright_yellow", "brightblue": "bright_blue",
    "brightmagenta": "bright_magenta", "brightcyan": "bright_cyan",
    "brightwhite": "bright_white",
}  # fmt: skip

StyleKey = tuple[str, str, bool, bool, bool, bool, bool]


def _color(name: str) -> Color | None:
    if name == "default":
        return None
    named = _NAMED.get(name)
    if named is not None:
        return Color.parse(named)
    if len(name) == 6:
        try:
            return Color.parse("#" + name)
        except Exception:
            return None
    return None


def cell_style(key: StyleKey, cursor: bool = False) -> Style:
    fg, bg, bold, italics, underscore, strikethrough, reverse = key
    return Style(
        color=_color(fg),
        bgcolor=_color(bg),
        bold=bold or None,
        italic=italics or None,
        underline=underscore or None,
        strike=strikethrough or None,
        reverse=(reverse != cursor) or None,
    )


class Terminal(DirectLines, can_focus=True):
    """A pyte-emulated terminal sized to the widget."""

    DEFAULT_CSS = """
    Terminal {
        width: 1fr;
        height: 1fr;
        background: $background;
        color: $foreground;
    }
    """

    class Output(Message):
        """Bytes the terminal sends to its source (keys, paste, query answers)."""

        def __init__(self, data: bytes) -> None:
            super().__init__()
            self.data = data

    class ScrollChanged(Message):
        """The scrollback offset changed (0 is the live view)."""

        def __init__(self, offset: int) -> None:
            super().__init__()
            self.offset = offset

    def __init__(
        self,
        *,
        on_output: Callable[[bytes], None] | None = None,
        on_flow: Callable[[bool], None] | None = None,
        scrollback: int = DEFAULT_SCROLLBACK,
        columns: int = 80,
        lines: int = 24,
        reserved_keys: Iterable[str] = (LEAVE_KEY,),
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.screen_state = TermScreen(columns, lines, scrollback)
        self.stream = TermStream(self.screen_state)
        self.on_output = on_output
        self.on_flow = on_flow
        self.reserved_keys = frozenset(reserved_keys)
        self.history_offset = 0
        self.bytes_parsed = 0
        self.frames_painted = 0
        self._feed_lock = threading.Lock()
        self._inbox: deque[bytes] = deque()
        self._inbox_bytes = 0
        self._feed_scheduled = False
        self._paused_source = False
        self._event_loop: asyncio.AbstractEventLoop | None = None
        self._ui_thread: int | None = None
        self._frame_timer: Timer | None = None
        self._strip_cache: dict[int, Strip] = {}
        self._cell_styles: dict[tuple[StyleKey, bool], Style] = {}
        self._drawn_cursor: tuple[int, int] | None = None
        self._base_style: Style | None = None
        self.last_frame_at = 0.0
        self._seen_scrolled = 0

    # -- life ------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._event_loop = asyncio.get_running_loop()
        self._ui_thread = threading.get_ident()
        self._frame_timer = self.set_interval(FRAME_S, self._tick, pause=True)
        self._fit_to_size(self.size)
        if self._inbox:
            self._schedule_feed()
        self._frame_timer.resume()

    def on_resize(self, event: events.Resize) -> None:
        self._fit_to_size(event.size)

    def _fit_to_size(self, size: Size) -> None:
        if size.width <= 0 or size.height <= 0:
            return
        screen = self.screen_state
        if (screen.columns, screen.lines) != (size.width, size.height):
            screen.resize(size.height, size.width)
            self._invalidate_all()

    # -- bytes in --------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Queue bytes from the guest; safe from any thread, cheap, never parses here."""
        if not data:
            return
        with self._feed_lock:
            self._inbox.append(data)
            self._inbox_bytes += len(data)
            pause = not self._paused_source and self._inbox_bytes > HIGH_WATER
            if pause:
                self._paused_source = True
        if pause and self.on_flow is not None:
            self.on_flow(True)
        self._schedule_feed()

    @property
    def pending_bytes(self) -> int:
        return self._inbox_bytes

    def _schedule_feed(self) -> None:
        loop = self._event_loop
        if loop is None:
            return  # not mounted yet: on_mount schedules
        with self._feed_lock:
            if self._feed_scheduled:
                return
            self._feed_scheduled = True
        if threading.get_ident() == self._ui_thread:
            loop.call_soon(self._feed_slice)
        else:
            loop.call_soon_threadsafe(self._feed_slice)

    def _take(self, limit: int) -> bytes:
        with self._feed_lock:
            if not self._inbox:
                return b""
            chunk = self._inbox.popleft()
            if len(chunk) > limit:
                self._inbox.appendleft(chunk[limit:])
                chunk = chunk[:limit]
            self._inbox_bytes -= len(chunk)
            return chunk

    def _feed_slice(self) -> None:
        """Parse for at most FEED_SLICE_S, then yield to the event loop."""
        deadline = time.perf_counter() + FEED_SLICE_S
        feed = self.stream.feed
        while True:
            chunk = self._take(FEED_CHUNK)
            if not chunk:
                break
            feed(chunk)
            self.bytes_parsed += len(chunk)
            if time.perf_counter() > deadline:
                break
        answers = self.screen_state.take_responses()
        if answers:
            self._send(answers)
        with self._feed_lock:
            more = bool(self._inbox)
            resume = self._paused_source and self._inbox_bytes < LOW_WATER
            if resume:
                self._paused_source = False
            self._feed_scheduled = more
        if resume and self.on_flow is not None:
            self.on_flow(False)
        if time.perf_counter() - self.last_frame_at >= FRAME_S:
            # A frame is due: draw now rather than wait for a timer a flood delays.
            self._tick()
        elif self._frame_timer is not None:
            self._frame_timer.resume()
        if more and self._event_loop is not None:
            self._event_loop.call_soon(self._feed_slice)

    def feed_now(self, data: bytes) -> None:
        """Parse bytes at once on the UI thread (tests, snapshots, replay)."""
        self.stream.feed(data)
        self.bytes_parsed += len(data)
        answers = self.screen_state.take_responses()
        if answers:
            self._send(answers)
        self._tick()

    # -- drawing ---------------------------------------------------------------------

    def _tick(self) -> None:
        """Refresh the lines that changed since the last frame; idle when none did."""
        screen = self.screen_state
        dirty = screen.dirty
        cursor = (screen.cursor.x, screen.cursor.y) if screen.cursor_visible else None
        if cursor != self._drawn_cursor:
            if self._drawn_cursor is not None:
                dirty.add(self._drawn_cursor[1])
            if cursor is not None:
                dirty.add(cursor[1])
        if not dirty:
            if not self._feed_scheduled and self._frame_timer is not None:
                self._frame_timer.pause()
            return
        self._drawn_cursor = cursor
        width = self.size.width
        if self.history_offset:
            # Scrolled back: the view holds still while lines scroll in underneath.
            dirty.clear()
            grown = screen.lines_scrolled - self._seen_scrolled
            self._seen_scrolled = screen.lines_scrolled
            self.history_offset = min(len(screen.history), self.history_offset + grown)
            return
        self._seen_scrolled = screen.lines_scrolled
        rows = sorted(y for y in dirty if 0 <= y < screen.lines)
        dirty.clear()
        for y in rows:
            self._strip_cache.pop(y, None)
        regions = _row_regions(rows, width)
        if regions:
            self.refresh(*regions)
            self.frames_painted += 1
            self.last_frame_at = time.perf_counter()

    def _invalidate_all(self) -> None:
        self._strip_cache.clear()
        self.screen_state.dirty.update(range(self.screen_state.lines))
        self.refresh()

    def _line_at(self, y: int) -> tuple[Line | None, bool]:
        """The line shown on row Y and whether it is a live screen line."""
        screen = self.screen_state
        if not self.history_offset:
            return (screen.buffer[y] if y < screen.lines else None), True
        history = screen.history
        index = len(history) - self.history_offset + y
        if index < len(history):
            return (history[index] if index >= 0 else None), False
        index -= len(history)
        return (screen.buffer[index] if index < screen.lines else None), False

    @property
    def base_style(self) -> Style:
        """The widget's own style (colours from CSS), cached: Textual computes it slowly."""
        if self._base_style is None:
            self._base_style = self.rich_style
        return self._base_style

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        live = not self.history_offset
        if live:
            cached = self._strip_cache.get(y)
            if cached is not None:
                return cached
        line, _ = self._line_at(y)
        if line is None:
            return Strip.blank(width, self.base_style)
        screen = self.screen_state
        cursor_x = -1
        if live and screen.cursor_visible and screen.cursor.y == y and self.has_focus:
            cursor_x = screen.cursor.x
        strip = Strip(self._segments(line, screen.columns, cursor_x)).adjust_cell_length(
            width, self.base_style
        )
        if live:
            self._strip_cache[y] = strip
        return strip

    def _segments(self, line: Line, columns: int, cursor_x: int) -> list[Segment]:
        base = self.base_style
        styles = self._cell_styles
        segments: list[Segment] = []
        run: list[str] = []
        run_key: tuple[StyleKey, bool] | None = None
        default = line.default
        get = line.get
        for x in range(columns):
            cell = get(x, default)
            text = cell.data
            if not text:  # the stub cell after a wide character
                continue
            key = (cell[1:8], x == cursor_x)
            if key != run_key:
                if run and run_key is not None:
                    segments.append(Segment("".join(run), styles[run_key]))
                    run = []
                if key not in styles:
                    styles[key] = base + cell_style(*key)
                run_key = key
            run.append(text)
        if run and run_key is not None:
            segments.append(Segment("".join(run), styles[run_key]))
        return segments

    def on_focus(self) -> None:
        self._redraw_cursor()

    def on_blur(self) -> None:
        self._redraw_cursor()

    def _redraw_cursor(self) -> None:
        y = self.screen_state.cursor.y
        self._strip_cache.pop(y, None)
        self.refresh(Region(0, y, self.size.width, 1))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base_style = None
        self._cell_styles.clear()
        self._strip_cache.clear()

    # -- scrollback ------------------------------------------------------------------

    def scroll_history(self, lines: int) -> None:
        """Move the view LINES back (positive) or forward (negative); 0 is the live view."""
        limit = len(self.screen_state.history)
        offset = max(0, min(limit, self.history_offset + lines))
        if offset != self.history_offset:
            self.history_offset = offset
            self._strip_cache.clear()
            self.refresh()
            self.post_message(self.ScrollChanged(offset))

    def scroll_to_live(self) -> None:
        self.scroll_history(-self.history_offset)

    # -- bytes out -------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        if self.on_output is not None:
            self.on_output(data)
        else:
            self.post_message(self.Output(data))

    def send_text(self, text: str) -> None:
        """Type TEXT into the guest (a paste, a command)."""
        self._send(text.encode("utf-8", "surrogateescape"))

    def check_consume_key(self, key: str, character: str | None) -> bool:
        """Every key is the guest's except the reserved ones (so app bindings stand back)."""
        return key not in self.reserved_keys

    def on_key(self, event: events.Key) -> None:
        if event.key in self.reserved_keys:
            return
        event.stop()
        event.prevent_default()
        data = key_bytes(
            event.key, event.character, application_cursor=self.screen_state.application_cursor
        )
        if data:
            if self.history_offset:
                self.scroll_to_live()
            self._send(data)

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        text = event.text.replace("\r\n", "\r").replace("\n", "\r")
        if self.screen_state.bracketed_paste:
            text = f"\x1b[200~{text}\x1b[201~"
        self.send_text(text)

    # -- what tests and the screen read ---------------------------------------------

    def text_lines(self) -> list[str]:
        """The live screen as plain text, one string per row (wide stubs skipped)."""
        return [line.rstrip() for line in self.screen_state.display]

    def stty_command(self) -> str:
        """The command that tells the guest's tty this widget's size."""
        return f"stty rows {self.screen_state.lines} cols {self.screen_state.columns}\r"


def _row_regions(rows: list[int], width: int) -> list[Region]:
    """Merge consecutive rows into one region each."""
    regions: list[Region] = []
    start = previous = None
    for y in rows:
        if start is None:
            start = previous = y
        elif previous is not None and y == previous + 1:
            previous = y
        else:
            assert previous is not None
            regions.append(Region(0, start, width, previous - start + 1))
            start = previous = y
    if start is not None and previous is not None:
        regions.append(Region(0, start, width, previous - start + 1))
    return regions
