"""Snapshots of the console screen, fed fixed bytes (no libvirt session: connect=False).

Deterministic: a never-started host with a fixed label, no animations, the terminal's
cursor drawn as a steady reverse cell, and every byte fed before the shot.
"""

from __future__ import annotations

from textual.app import App
from textual.pilot import Pilot

from kvmtui.backend.host import Host
from kvmtui.screens.console import ConsoleScreen
from kvmtui.tui.widgets.terminal import Terminal

UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"

PROMPT_SESSION = (
    b"Linux version 6.1.0-28-cloud-amd64 (debian-kernel@lists.debian.org)\r\n"
    b"init: kvmtui guest ready\r\n"
    b"\x1b[1;32mroot@web-1\x1b[0m:\x1b[1;34m/var/log\x1b[0m# ls --color\r\n"
    b"\x1b[0m\x1b[01;34mapt\x1b[0m  \x1b[01;31mdmesg.gz\x1b[0m  \x1b[01;32mrun.sh\x1b[0m"
    b"  syslog  \x1b[30;43mshared\x1b[0m  \x1b[38;5;208mpalette-208\x1b[0m"
    b"  \x1b[38;2;120;200;255mtruecolour\x1b[0m\r\n"
    b"\x1b[1;32mroot@web-1\x1b[0m:\x1b[1;34m/var/log\x1b[0m# echo \xe4\xb8\xad\xe6\x96\x87 ok\r\n"
    b"\xe4\xb8\xad\xe6\x96\x87 ok\r\n"
    b"\x1b[1;32mroot@web-1\x1b[0m:\x1b[1;34m/var/log\x1b[0m# "
)


def _top_frame() -> bytes:
    rows = [
        b"\x1b[?1049h\x1b[H\x1b[2J",
        b"\x1b[1mtop - 10:00:00 up 3 days,  load average: 0.08, 0.03, 0.01\x1b[0m\x1b[K\r\n",
        b"Tasks:  42 total,   1 running,  41 sleeping\x1b[K\r\n",
        b"\x1b(0lqqqqqqqqqqqqqqqqqqqqqqqqqqqqk\x1b(B\r\n",
        b"\x1b(0x\x1b(B memory  \x1b[42m          \x1b[0m\x1b[41m    \x1b[0m"
        b"      \x1b(0x\x1b(B\r\n",
        b"\x1b(0mqqqqqqqqqqqqqqqqqqqqqqqqqqqqj\x1b(B\r\n",
        b"\x1b[7m  PID USER      %CPU %MEM COMMAND" + b" " * 45 + b"\x1b[27m\r\n",
        b"    1 root       0.0  0.4 init\r\n",
        b"  212 root      \x1b[1;31m 97.3\x1b[0m  1.2 yes\r\n",
        b"  230 root       0.3  0.8 top\r\n",
        b"\x1b[?25l",
    ]
    return b"".join(rows)


class ConsoleApp(App[None]):
    def __init__(self, data: bytes, status: str) -> None:
        super().__init__()
        self.animation_level = "none"
        self.data = data
        self.status = status

    def on_mount(self) -> None:
        host = Host("test:///default", label="lab")  # never started: no connection
        self.push_screen(ConsoleScreen(host, UUID, "web-1", connect=False))


async def _feed(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, ConsoleApp)
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, ConsoleScreen)
    screen.set_status(app.status)
    screen.query_one(Terminal).feed_now(app.data)
    await pilot.pause()


def test_console_coloured_prompt(snap_compare) -> None:
    """A blue header "Console: web-1 on lab - unknown", a status line "Connected...", then
    the console: the kernel banner line, a root prompt with a bold green user@host and
    bold blue path, `ls --color` output in blue (apt), red (dmesg.gz), green (run.sh),
    plain (syslog), black on yellow (shared), orange 256-colour and light-blue true
    colour names, two wide CJK characters followed by "ok", and the prompt again with a
    reverse-video cursor after "# ". The bottom line lists "Ctrl+] leave" and the other
    console keys."""
    app = ConsoleApp(PROMPT_SESSION, "Connected to the serial console of 'web-1'.")
    assert snap_compare(app, terminal_size=(80, 16), run_before=_feed)


def test_console_full_screen_program(snap_compare) -> None:
    """A top-like program on the alternate screen: a bold first line, a box drawn with
    line-drawing characters (corners and edges, not the letters l q k x m j) holding a
    green and a red bar, a reverse-video table header spanning the width, a red bold
    97.3 for `yes`, and no cursor (hidden by the program)."""
    app = ConsoleApp(_top_frame(), "Connected to the serial console of 'web-1'.")
    assert snap_compare(app, terminal_size=(80, 16), run_before=_feed)


def test_console_takeover_question(snap_compare) -> None:
    """The console is held by another client: the status line says so in a warning colour
    and suggests Shift+F3; over it a modal asks whether to take over the console of
    'web-1' on lab, with "Take over (y)" and "Cancel (n)" buttons, Cancel focused."""

    async def busy(pilot: Pilot[None]) -> None:
        await _feed(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, ConsoleScreen)
        screen.set_status(
            "The console of guest 'web-1' on lab is in use by another client (virsh "
            "console or another kvmtui). Shift+F3 takes it over.",
            problem=True,
        )
        screen.ask_takeover()
        await pilot.pause()

    app = ConsoleApp(b"", "")
    assert snap_compare(app, terminal_size=(80, 16), run_before=busy)
