"""The terminal widget with the Pilot: exact bytes out, rendered cells in, scrollback, flow.

A minimal app hosts the widget with a list as its output; nothing here needs libvirt.
"""

from __future__ import annotations

import threading

import pytest
from rich.color import Color
from rich.segment import Segment
from textual import events
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from kvmtui.backend.host import Host
from kvmtui.screens.console import ConsoleScreen
from kvmtui.tui.widgets.term_keys import key_bytes
from kvmtui.tui.widgets.terminal import HIGH_WATER, LOW_WATER, Terminal
from tests.pilot import run_async, wait_for

COLUMNS, LINES = 40, 10


class TermApp(App[None]):
    """Only the widget, sized 40x10, its output collected."""

    def __init__(self, scrollback: int = 5000) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.scrollback = scrollback

    def compose(self) -> ComposeResult:
        yield Terminal(on_output=self.sent.append, scrollback=self.scrollback)

    def on_mount(self) -> None:
        self.query_one(Terminal).focus()

    @property
    def sent_bytes(self) -> bytes:
        return b"".join(self.sent)


def segments(terminal: Terminal, y: int) -> list[Segment]:
    return [seg for seg in terminal.render_line(y) if seg.text.strip()]


def segment_with(terminal: Terminal, y: int, text: str) -> Segment:
    for seg in terminal.render_line(y):
        if text in seg.text:
            return seg
    raise AssertionError(f"no segment with {text!r} on row {y}: {terminal.render_line(y)!r}")


# -- keys: exact bytes, both cursor modes --------------------------------------------------

# (key, bytes in normal cursor mode, bytes in application cursor mode)
KEY_TABLE: list[tuple[str, bytes, bytes]] = [
    ("a", b"a", b"a"),
    ("A", b"A", b"A"),
    ("enter", b"\r", b"\r"),
    ("backspace", b"\x7f", b"\x7f"),
    ("tab", b"\t", b"\t"),
    ("shift+tab", b"\x1b[Z", b"\x1b[Z"),
    ("escape", b"\x1b", b"\x1b"),
    ("space", b" ", b" "),
    ("up", b"\x1b[A", b"\x1bOA"),
    ("down", b"\x1b[B", b"\x1bOB"),
    ("right", b"\x1b[C", b"\x1bOC"),
    ("left", b"\x1b[D", b"\x1bOD"),
    ("home", b"\x1b[H", b"\x1bOH"),
    ("end", b"\x1b[F", b"\x1bOF"),
    ("ctrl+up", b"\x1b[1;5A", b"\x1b[1;5A"),
    ("shift+right", b"\x1b[1;2C", b"\x1b[1;2C"),
    ("pageup", b"\x1b[5~", b"\x1b[5~"),
    ("pagedown", b"\x1b[6~", b"\x1b[6~"),
    ("insert", b"\x1b[2~", b"\x1b[2~"),
    ("delete", b"\x1b[3~", b"\x1b[3~"),
    ("f1", b"\x1bOP", b"\x1bOP"),
    ("f4", b"\x1bOS", b"\x1bOS"),
    ("f5", b"\x1b[15~", b"\x1b[15~"),
    ("f10", b"\x1b[21~", b"\x1b[21~"),
    ("f12", b"\x1b[24~", b"\x1b[24~"),
    ("ctrl+a", b"\x01", b"\x01"),
    ("ctrl+c", b"\x03", b"\x03"),  # the app's help-quit key: the guest's while focused
    ("ctrl+d", b"\x04", b"\x04"),
    ("ctrl+q", b"\x11", b"\x11"),  # the app's (priority) quit key
    ("ctrl+p", b"\x10", b"\x10"),  # the command palette key
    ("ctrl+z", b"\x1a", b"\x1a"),
    ("ctrl+backslash", b"\x1c", b"\x1c"),
    ("alt+x", b"\x1bx", b"\x1bx"),
    ("alt+enter", b"\x1b\r", b"\x1b\r"),
    ("ctrl+alt+a", b"\x1b\x01", b"\x1b\x01"),
]


@pytest.mark.parametrize("application_cursor", [False, True], ids=["normal", "application"])
@run_async
async def test_each_key_sends_exactly_the_xterm_bytes(application_cursor: bool) -> None:
    app = TermApp()
    async with app.run_test(size=(COLUMNS, LINES)) as pilot:
        terminal = app.query_one(Terminal)
        terminal.feed_now(b"\x1b[?1h" if application_cursor else b"\x1b[?1l")
        assert terminal.screen_state.application_cursor is application_cursor
        for key, normal, application in KEY_TABLE:
            app.sent.clear()
            await pilot.press(key)
            expected = application if application_cursor else normal
            assert app.sent_bytes == expected, key
        assert app.is_running  # ctrl+q went to the guest, not to App.quit


def test_key_table_covers_f_keys_with_modifiers() -> None:
    assert key_bytes("shift+f5", None, application_cursor=False) == b"\x1b[15;2~"
    assert key_bytes("ctrl+f1", None, application_cursor=True) == b"\x1b[1;5P"
    assert key_bytes("ctrl+delete", None, application_cursor=False) == b"\x1b[3;5~"
    assert key_bytes("f13", None, application_cursor=False) is None


@run_async
async def test_paste_is_sent_with_line_ends_as_enter_and_bracketed_when_asked() -> None:
    app = TermApp()
    async with app.run_test(size=(COLUMNS, LINES)) as pilot:
        terminal = app.query_one(Terminal)
        terminal.post_message(events.Paste("ls\nuname -a\n"))
        await pilot.pause()
        assert app.sent_bytes == b"ls\runame -a\r"
        app.sent.clear()
        terminal.feed_now(b"\x1b[?2004h")
        terminal.post_message(events.Paste("x"))
        await pilot.pause()
        assert app.sent_bytes == b"\x1b[200~x\x1b[201~"


# -- rendering: escape sequences in, cells out -------------------------------------------


@run_async
async def test_colours_and_attributes_render_as_styled_runs() -> None:
    app = TermApp()
    async with app.run_test(size=(COLUMNS, LINES)):
        terminal = app.query_one(Terminal)
        terminal.feed_now(
            b"\x1b[31mred\x1b[0m \x1b[38;5;196mpal\x1b[0m \x1b[38;2;1;2;3mrgb\x1b[0m "
            b"\x1b[1mbold\x1b[0m \x1b[4munder\x1b[0m \x1b[7mrev\x1b[0m \x1b[44mbg\x1b[0m"
        )
        red = segment_with(terminal, 0, "red")
        assert red.text == "red" and red.style is not None
        assert red.style.color == Color.parse("red")
        assert segment_with(terminal, 0, "pal").style.color.triplet == (255, 0, 0)  # type: ignore[union-attr]
        assert segment_with(terminal, 0, "rgb").style.color.triplet == (1, 2, 3)  # type: ignore[union-attr]
        assert segment_with(terminal, 0, "bold").style.bold  # type: ignore[union-attr]
        assert segment_with(terminal, 0, "under").style.underline  # type: ignore[union-attr]
        assert segment_with(terminal, 0, "rev").style.reverse  # type: ignore[union-attr]
        assert segment_with(terminal, 0, "bg").style.bgcolor == Color.parse("blue")  # type: ignore[union-attr]
        # One segment per run of one style: "red" and " " differ, so they are apart.
        texts = [seg.text for seg in terminal.render_line(0)]
        assert texts[:3] == ["red", " ", "pal"]


@run_async
async def test_cursor_position_visibility_wide_chars_and_line_drawing() -> None:
    app = TermApp()
    async with app.run_test(size=(COLUMNS, LINES)):
        terminal = app.query_one(Terminal)
        terminal.feed_now("中文x\r\n\x1b(0lqqk\x1b(B\r\n\x1b[5;3Habc".encode())
        line0 = "".join(seg.text for seg in terminal.render_line(0))
        assert line0.startswith("中文x")
        assert terminal.render_line(0).cell_length == COLUMNS  # wide chars take two cells
        assert "".join(seg.text for seg in terminal.render_line(1)).startswith("┌──┐")
        cursor = segment_with(terminal, 4, "abc")  # cursor is after "abc", at column 5
        assert cursor.style is not None and not cursor.style.reverse
        cells = [seg for seg in terminal.render_line(4) if seg.style and seg.style.reverse]
        assert [seg.text for seg in cells] == [" "]
        terminal.feed_now(b"\x1b[?25l")
        assert not [seg for seg in terminal.render_line(4) if seg.style and seg.style.reverse]


@run_async
async def test_alternate_screen_is_separate_and_restored() -> None:
    app = TermApp()
    async with app.run_test(size=(COLUMNS, LINES)):
        terminal = app.query_one(Terminal)
        terminal.feed_now(b"shell prompt$ ")
        terminal.feed_now(b"\x1b[?1049h\x1b[H\x1b[2Jtop - full screen")
        assert terminal.text_lines()[0] == "top - full screen"
        assert "shell prompt$" not in "\n".join(terminal.text_lines())
        terminal.feed_now(b"\x1b[?1049l")
        assert terminal.text_lines()[0] == "shell prompt$"
        assert terminal.screen_state.cursor.x == len("shell prompt$ ")


@run_async
async def test_terminal_queries_are_answered_to_the_guest() -> None:
    app = TermApp()
    async with app.run_test(size=(COLUMNS, LINES)):
        terminal = app.query_one(Terminal)
        terminal.feed_now(b"\x1b[3;7H\x1b[6n")
        assert app.sent_bytes == b"\x1b[3;7R"
        app.sent.clear()
        terminal.feed_now(b"\x1b[5n\x1b[c")
        assert app.sent_bytes == b"\x1b[0n\x1b[?6c"


@run_async
async def test_screen_follows_the_widget_size_and_stty_matches_it() -> None:
    app = TermApp()
    async with app.run_test(size=(COLUMNS, LINES)) as pilot:
        terminal = app.query_one(Terminal)
        assert (terminal.screen_state.columns, terminal.screen_state.lines) == (COLUMNS, LINES)
        await pilot.resize_terminal(60, 20)
        await wait_for(pilot, lambda: terminal.screen_state.columns == 60, "resize")
        assert terminal.stty_command() == "stty rows 20 cols 60\r"


# -- feeding: coalesced, bounded, flow-controlled ----------------------------------------


@run_async
async def test_feed_from_a_thread_is_parsed_on_the_loop_and_flow_controlled() -> None:
    app = TermApp()
    flow: list[bool] = []
    async with app.run_test(size=(COLUMNS, LINES)) as pilot:
        terminal = app.query_one(Terminal)
        terminal.on_flow = flow.append
        line = b"0123456789" * 3 + b"\r\n"
        total = HIGH_WATER * 3 // len(line) * len(line)

        def flood() -> None:
            for _ in range(0, total, 4096):
                terminal.feed(line * (4096 // len(line)))

        thread = threading.Thread(target=flood)
        thread.start()
        thread.join()
        assert flow[:1] == [True]  # asked the source to pause past the high-water mark
        await wait_for(pilot, lambda: terminal.pending_bytes == 0, "backlog parsed")
        assert flow[-1] is False and terminal.pending_bytes < LOW_WATER
        assert terminal.text_lines()[0] == "0123456789" * 3


# -- scrollback --------------------------------------------------------------------------


@run_async
async def test_scrollback_is_bounded_and_keeps_the_oldest_lines_in_order() -> None:
    app = TermApp(scrollback=5000)
    async with app.run_test(size=(COLUMNS, LINES)):
        terminal = app.query_one(Terminal)
        terminal.feed_now(b"".join(b"line %d\r\n" % n for n in range(6000)))
        history = terminal.screen_state.history
        assert len(history) == 5000
        first = "".join(history[0][x].data for x in range(COLUMNS)).rstrip()
        assert first == f"line {6000 - 5000 - LINES + 1}"


class Base(Screen[None]):
    def compose(self) -> ComposeResult:
        yield Static("guest list")


class ConsoleApp(App[None]):
    """A ConsoleScreen without a session (connect=False) over a base screen."""

    def __init__(self, host: Host) -> None:
        super().__init__()
        self.host = host
        self.sent: list[bytes] = []

    def on_mount(self) -> None:
        self.push_screen(Base())
        console = ConsoleScreen(self.host, "uuid-1", "web-1", connect=False)
        self.push_screen(console)


@pytest.fixture
def offline_host() -> Host:
    return Host("test:///default", label="lab")  # never started: no connection is made


@run_async
async def test_console_screen_scrolls_back_with_shift_pageup_and_typing_returns_live(
    offline_host: Host,
) -> None:
    app = ConsoleApp(offline_host)
    async with app.run_test(size=(60, 16)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConsoleScreen)
        terminal = screen.terminal
        terminal.on_output = app.sent.append
        terminal.feed_now(b"".join(b"line %d\r\n" % n for n in range(200)))
        rows = terminal.screen_state.lines
        await pilot.press("shift+pageup")
        assert terminal.history_offset == rows - 1
        shown = "".join(seg.text for seg in terminal.render_line(0)).rstrip()
        assert shown == f"line {200 - rows + 1 - (rows - 1)}"
        await pilot.press("shift+end")
        assert terminal.history_offset == 0
        await pilot.press("shift+pageup")
        assert terminal.history_offset > 0
        await pilot.press("x")  # typing goes to the guest and back to the live view
        assert terminal.history_offset == 0
        assert b"".join(app.sent) == b"x"


@run_async
async def test_console_screen_keys_send_stty_and_ctrl_bracket_leaves(offline_host: Host) -> None:
    app = ConsoleApp(offline_host)
    async with app.run_test(size=(60, 16)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConsoleScreen)
        screen.terminal.on_output = app.sent.append
        await pilot.press("shift+f2")
        lines = screen.terminal.screen_state.lines
        assert b"".join(app.sent) == f"stty rows {lines} cols 60\r".encode()
        assert "Ctrl+] leave" in str(screen.query_one("#console-hint").render())
        app.sent.clear()
        await pilot.press("ctrl+right_square_bracket")
        await pilot.pause()
        assert isinstance(app.screen, Base)
        assert app.sent == []  # the leave key is not sent to the guest
