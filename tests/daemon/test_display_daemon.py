"""The guest display on a real tiny guest with a VGA screen (display_guest: the kernel's
console on tty0 as well as ttyS0, a root shell on tty1), locally and over TCP.

Screenshots are checked on their pixels, keys by their effect: a command typed through
the display screen's key table writes MARK123 to the serial port, read from the pty.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from collections.abc import AsyncIterator

import libvirt
import pytest
from PIL import Image, ImageChops, ImageStat
from textual.app import App, ComposeResult
from textual.keys import _character_to_key
from textual.pilot import Pilot

from kvmtui.backend.display import Frame, ScreenSource, fit_cells
from kvmtui.backend.host import Host
from kvmtui.screens.display import DisplayScreen
from kvmtui.tui.app import make_app
from kvmtui.tui.graphics import Graphics
from kvmtui.tui.widgets.screen_image import ScreenImage
from kvmtui.tui.widgets.screen_picture import ScreenPicture
from tests.harness.serial import SerialConsole
from tests.hosts import started_host
from tests.kitty import picture, sent_pictures
from tests.pilot import loaded, run_async, select, wait_for

pytestmark = [pytest.mark.daemon, pytest.mark.guest]

STEP_S = 30.0  # a busy 2-core machine running TCG guests
VGA_TEXT_SIZE = (720, 400)
COLOUR_TOLERANCE = 48  # per channel, 0-255: box filters differ at fractional edges


def first_frame(host: Host, dom: libvirt.virDomain) -> Frame:
    frame = ScreenSource(host, dom.UUIDString()).capture().frame
    assert frame is not None
    return frame


def assert_console_text(image: Image.Image) -> None:
    """Text on the upper part of the console (BIOS lines, the shell's banner and prompt):
    many grey pixels on black, where a blank screen would be one colour."""
    assert image.size == VGA_TEXT_SIZE
    text_area = image.crop((0, 0, 720, 300))
    colours = text_area.getcolors(maxcolors=1 << 16)
    assert colours is not None and len(colours) >= 2, "the text area is one colour"
    bright = sum(count for count, rgb in colours if sum(rgb) > 300)
    assert bright > 2000, f"only {bright} bright pixels in the text area"


def test_screenshot_shows_the_console_text(
    daemon_uri: str, display_guest: libvirt.virDomain
) -> None:
    with started_host(daemon_uri) as host:
        frame = first_frame(host, display_guest)
    assert frame.mime == "image/png"
    assert_console_text(frame.image)


def test_screenshot_over_tcp(tcp_uri: str, display_guest: libvirt.virDomain) -> None:
    with started_host(tcp_uri) as host:
        frame = first_frame(host, display_guest)
    assert_console_text(frame.image)


def box_mean(image: Image.Image, box: tuple[float, float, float, float]) -> tuple[int, ...]:
    """The mean colour of the source pixels whose centres fall in BOX (pure Python)."""
    left, top, right, bottom = box
    pixels = image.load()
    assert pixels is not None
    totals = [0, 0, 0]
    count = 0
    for y in range(int(top), min(image.size[1], int(bottom + 0.999))):
        if not top <= y + 0.5 < bottom:
            continue
        for x in range(int(left), min(image.size[0], int(right + 0.999))):
            if not left <= x + 0.5 < right:
                continue
            pixel = pixels[x, y]
            assert isinstance(pixel, tuple)
            for channel in range(3):
                totals[channel] += pixel[channel]
            count += 1
    return tuple(round(t / max(count, 1)) for t in totals)


class FrameApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ScreenImage()


@run_async
async def test_drawn_half_blocks_match_the_downscaled_screenshot(
    daemon_uri: str, display_guest: libvirt.virDomain
) -> None:
    with started_host(daemon_uri) as host:
        image = first_frame(host, display_guest).image
    columns, rows = 120, 40
    width, height = fit_cells(image.size, columns, rows)
    sx, sy = image.size[0] / width, image.size[1] / height
    app = FrameApp()
    async with app.run_test(size=(columns, rows)) as pilot:
        widget = app.query_one(ScreenImage)
        widget.show(image)
        await pilot.pause()
        worst = 0
        for y in range(height // 2):
            cells: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
            for segment in widget.render_line(y):
                if segment.style is None or segment.style.color is None:
                    continue  # the blank past the image
                fg = segment.style.color.get_truecolor()
                bg = segment.style.bgcolor.get_truecolor()  # type: ignore[union-attr]
                cells += [((fg.red, fg.green, fg.blue), (bg.red, bg.green, bg.blue))] * len(
                    segment.text
                )
            assert len(cells) == width
            for x, (upper, lower) in enumerate(cells):
                for half, drawn in ((0, upper), (1, lower)):
                    top = (2 * y + half) * sy
                    expected = box_mean(image, (x * sx, top, (x + 1) * sx, top + sy))
                    worst = max(worst, *(abs(a - b) for a, b in zip(drawn, expected, strict=True)))
        assert worst <= COLOUR_TOLERANCE, f"a cell is {worst} off in one channel"
        assert widget.render_line(height // 2 + 1).cell_length == columns  # blank below


@contextlib.asynccontextmanager
async def display_screen(
    daemon_uri: str, dom: libvirt.virDomain, graphics: Graphics = Graphics.TEXT
) -> AsyncIterator[tuple[Pilot[None], DisplayScreen]]:
    """The real app with ``dom`` selected and its display opened with `v`."""
    app = make_app([daemon_uri], stats=False, graphics=graphics)
    app.animation_level = "none"
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot, timeout=STEP_S)
        await select(pilot, screen.table, dom.name())
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, DisplayScreen), "the display")
        display = app.screen
        assert isinstance(display, DisplayScreen)
        await wait_for(pilot, lambda: display.frame is not None, "the first frame", STEP_S)
        yield pilot, display


@run_async
async def test_keys_typed_on_the_vga_console_reach_the_serial_port(
    daemon_uri: str, display_guest: libvirt.virDomain
) -> None:
    command = "echo MARK123 > /dev/ttyS0"
    async with display_screen(daemon_uri, display_guest) as (pilot, screen):
        with SerialConsole(display_guest) as serial:
            await pilot.press(*(_character_to_key(c) for c in command), "enter")
            await wait_for(pilot, lambda: screen._keys.empty(), "the keys to go out", STEP_S)
            seen = serial.read_until(b"MARK123", STEP_S)
    assert seen.endswith(b"MARK123")


@run_async
async def test_unchanged_screen_takes_fewer_screenshots(
    daemon_uri: str, display_guest: libvirt.virDomain
) -> None:
    async with display_screen(daemon_uri, display_guest) as (pilot, screen):
        start_calls, started = screen.source.calls, time.monotonic()
        await pilot.pause(3.0)
        first_rate = (screen.source.calls - start_calls) / (time.monotonic() - started)
        await wait_for(
            pilot,
            lambda: screen.interval >= screen.policy.slowest,
            "the refresh to slow down",
            STEP_S,
        )
        idle_calls, started = screen.source.calls, time.monotonic()
        await pilot.pause(10.0)
        idle_seconds = time.monotonic() - started
        idle_calls = screen.source.calls - idle_calls
    # At most one call per slowest interval (2 s), plus one already scheduled.
    assert idle_calls <= idle_seconds / screen.policy.slowest + 1, idle_calls
    assert idle_calls / idle_seconds < first_rate, (idle_calls, first_rate)


@run_async
async def test_the_real_screen_as_a_kitty_picture(
    daemon_uri: str, display_guest: libvirt.virDomain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--graphics kitty: the guest's screenshot reaches the terminal as one picture of the
    pane's size (kitty's messages go to standard output), its pixels the screenshot's."""
    sent = io.StringIO()
    monkeypatch.setattr(sys, "__stdout__", sent)
    async with display_screen(daemon_uri, display_guest, Graphics.KITTY) as (pilot, screen):
        assert isinstance(screen.image, ScreenPicture)
        await wait_for(pilot, lambda: "f=100" in sent.getvalue(), "a picture sent", STEP_S)
        await wait_for(pilot, lambda: screen.frame is not None, "the frame kept", STEP_S)
        await pilot.pause()
        frame = screen.frame
        assert frame is not None
        shown = screen.image.shown_size
    sent_picture = picture(sent.getvalue(), sent_pictures(sent.getvalue())[0])
    assert sent_picture.size == shown
    assert sent_picture.width >= 1000, "scaled to the 120-column pane, not sent at 720x400"
    expected = frame.image.resize(sent_picture.size, Image.Resampling.BILINEAR)
    # The same console (a blinking cursor may differ between two screenshots).
    difference = sum(ImageStat.Stat(ImageChops.difference(sent_picture, expected)).mean) / 3
    assert difference < 4.0, difference
