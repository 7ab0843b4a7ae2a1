"""The display screen in the real app on libvirt's test:/// driver (tests/data/node.xml:
`monitoring` runs and has a VGA device; the driver answers screenshots with a PNG and
accepts send-key): opening with `v`, the key menu, a long paste asked first and typed at
a bounded rate, saving the screen, leaving with Ctrl+]."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Static

from kvmtui.backend import display
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.display import DisplayScreen, KeyMenuScreen, SavePathScreen
from kvmtui.screens.guests import GuestsScreen
from kvmtui.screens.refusal import ERROR_ID
from kvmtui.tui.app import make_app
from tests.pilot import loaded, run_async, select, wait_for


@contextlib.asynccontextmanager
async def display_screen(uri: str) -> AsyncIterator[tuple[Pilot[None], DisplayScreen]]:
    app = make_app([uri], stats=False)
    app.animation_level = "none"
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot)
        await select(pilot, screen.table, "monitoring")
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, DisplayScreen), "the display")
        shown = app.screen
        assert isinstance(shown, DisplayScreen)
        await wait_for(pilot, lambda: shown.frame is not None, "the first frame")
        yield pilot, shown


@run_async
async def test_key_menu_sends_ctrl_alt_del(test_node_uri: str) -> None:
    async with display_screen(test_node_uri) as (pilot, screen):
        await pilot.press("shift+f2")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, KeyMenuScreen), "the menu")
        await pilot.press("enter")  # the first entry: Ctrl+Alt+Del
        await wait_for(pilot, lambda: screen.keys_sent == 1, "the combination to go out")
        assert pilot.app.screen is screen


@run_async
async def test_long_paste_asks_first_and_types_at_a_bounded_rate(test_node_uri: str) -> None:
    text = "x" * (display.PASTE_CONFIRM_CHARS + 50)
    async with display_screen(test_node_uri) as (pilot, screen):
        screen.paste(text)
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the question")
        await pilot.press("n")
        await pilot.pause(0.3)
        assert screen.keys_sent == 0 and screen._keys.empty()

        screen.paste("ls\n")  # short: typed at once, no question
        await wait_for(pilot, lambda: screen.keys_sent == 3, "the short paste")

        screen.paste(text)
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the question")
        started = time.monotonic()  # before the answer: the typing may start at once
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.keys_sent - 3 >= 10, "some of the paste")
        typed = screen.keys_sent - 3
        elapsed = time.monotonic() - started
        # 25 keys/s: ten keys take at least 0.36 s (the first goes at once).
        assert typed <= elapsed * display.PASTE_KEYS_PER_S + 1, (typed, elapsed)
        await pilot.press("ctrl+right_square_bracket")  # leaving stops the rest
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, GuestsScreen), "the list")
        stopped_at = screen.keys_sent
        await pilot.pause(0.5)
        assert screen.keys_sent <= stopped_at + 1
        assert screen.keys_sent - 3 < len(text)


@run_async
async def test_save_writes_the_screen_as_png(test_node_uri: str, tmp_path: Path) -> None:
    target = tmp_path / "monitoring.png"
    async with display_screen(test_node_uri) as (pilot, _screen):
        await pilot.press("shift+f3")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, SavePathScreen), "the path")
        pilot.app.screen.query_one(Input).value = str(target)
        await pilot.press("enter")
        await wait_for(pilot, target.exists, "the file")
    assert target.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@run_async
async def test_screen_opened_for_a_guest_without_display_says_so(test_node_uri: str) -> None:
    """Pushed before the list's lookup answered: the screen reads the XML itself and
    takes no screenshot."""
    app = make_app([test_node_uri], stats=False)
    app.animation_level = "none"
    async with app.run_test(size=(100, 30)) as pilot:
        list_screen = await loaded(pilot)
        guest = await select(pilot, list_screen.table, "web-frontend-1")
        screen = DisplayScreen(app.hosts[0], guest.uuid, guest.name)
        app.push_screen(screen)
        status = "#display-status"
        await wait_for(
            pilot,
            lambda: any(
                display.NO_DISPLAY in str(w.content) for w in screen.query(status).results(Static)
            ),
            "the sentence",
        )
        assert screen.source.calls == 0 and screen.frame is None


@run_async
async def test_escape_and_ctrl_keys_go_to_the_guest(test_node_uri: str) -> None:
    """Escape, q and Ctrl+C are the guest's here, not the app's (only Ctrl+] leaves)."""
    async with display_screen(test_node_uri) as (pilot, screen):
        await pilot.press("escape", "q", "ctrl+c", "question_mark")
        await wait_for(pilot, lambda: screen.keys_sent == 4, "four keys sent")
        assert pilot.app.screen is screen


@run_async
async def test_a_path_in_a_missing_folder_is_refused_in_the_question(
    test_node_uri: str, tmp_path: Path
) -> None:
    """The save question refuses a file in a folder that does not exist and stays open
    with the typed path; corrected, the screen is saved."""
    wrong = tmp_path / "no-such-folder" / "monitoring.png"
    async with display_screen(test_node_uri) as (pilot, _screen):
        await pilot.press("shift+f3")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, SavePathScreen), "the path")
        question = pilot.app.screen
        question.query_one(Input).value = str(wrong)
        await pilot.press("enter")
        line = question.query_one(f"#{ERROR_ID}", Static)
        await wait_for(pilot, lambda: line.display, "the refusal")
        assert f"The folder {wrong.parent} does not exist." in str(line.render())
        assert pilot.app.screen is question and question.query_one(Input).value == str(wrong)
        right = tmp_path / "monitoring.png"
        question.query_one(Input).value = str(right)
        await pilot.press("enter")
        await wait_for(pilot, right.exists, "the file")
    assert not wrong.parent.exists()
