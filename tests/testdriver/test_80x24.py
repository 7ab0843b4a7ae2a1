"""Every screen at 80x24, the smallest terminal the README promises (libvirt's test:///
driver). Each screen is opened the way an admin opens it, and its key widgets must lie
whole inside the terminal, with the footer's keys on the last line where it has one.

``KVMTUI_SHOTS=DIR`` saves an SVG of each screen into DIR for a look by eye.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.geometry import Region
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Footer  # noqa: TID251 (queried, not composed)
from textual.widgets._footer import FooterKey

from conftest import node_uri
from kvmtui.screens.agent import AgentScreen
from kvmtui.screens.balloon import BalloonPeriodScreen
from kvmtui.screens.confirm import ConfirmScreen, TypeToConfirmScreen
from kvmtui.screens.console import ConsoleScreen
from kvmtui.screens.delay import DelayScreen
from kvmtui.screens.details import DetailsScreen
from kvmtui.screens.guests import GuestsScreen
from kvmtui.screens.help import HelpScreen
from kvmtui.screens.host import HostScreen
from kvmtui.screens.ksm_thresholds import ThresholdsScreen
from kvmtui.screens.ksm_tune import KsmTuneScreen
from kvmtui.screens.storage import StorageScreen
from kvmtui.screens.storage_volume import VolumeFormScreen
from kvmtui.screens.throttle import ThrottleScreen
from kvmtui.screens.throttle_many import ThrottleManyScreen
from kvmtui.tui.app import KvmtuiApp
from tests.agent_replay import RecordedAgent
from tests.ksm_replay import open_ksm
from tests.pilot import STORAGE_NODE_URI, build_app, loaded, run_async, select, wait_for

DATA = Path(__file__).parents[1] / "data"
SIZE = (80, 24)
WEB = "6695eb01-f6a4-8304-79aa-97f2502e1901"  # web-frontend-1 in node.xml, running


async def press_for(pilot: Pilot[None], keys: str, kind: type[Screen[object]]) -> Screen[object]:
    """Press ``keys`` (one key name, or several separated by spaces) until ``kind`` is up."""
    await pilot.press(*keys.split())
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, kind), kind.__name__)
    return pilot.app.screen


async def on_guest(pilot: Pilot[None], name: str) -> GuestsScreen:
    screen = await loaded(pilot)
    await select(pilot, screen.table, name)
    return screen


async def guest_list(pilot: Pilot[None]) -> Screen[object]:
    return await loaded(pilot)


async def details(pilot: Pilot[None]) -> Screen[object]:
    await on_guest(pilot, "web-frontend-1")
    return await press_for(pilot, "enter", DetailsScreen)


async def host(pilot: Pilot[None]) -> Screen[object]:
    await loaded(pilot)
    return await press_for(pilot, "H", HostScreen)


async def help_(pilot: Pilot[None]) -> Screen[object]:
    await loaded(pilot)
    return await press_for(pilot, "question_mark", HelpScreen)


async def delay(pilot: Pilot[None]) -> Screen[object]:
    await loaded(pilot)
    return await press_for(pilot, "d", DelayScreen)


async def force_off(pilot: Pilot[None]) -> Screen[object]:
    await on_guest(pilot, "web-frontend-1")
    return await press_for(pilot, "F", ConfirmScreen)


async def undefine(pilot: Pilot[None]) -> Screen[object]:
    await on_guest(pilot, "build-runner")
    return await press_for(pilot, "U", TypeToConfirmScreen)


async def console(pilot: Pilot[None]) -> Screen[object]:
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    await loaded(pilot)
    await app.push_screen(ConsoleScreen(app.hosts[0], WEB, "web-frontend-1", connect=False))
    return app.screen


async def agent(pilot: Pilot[None]) -> Screen[object]:
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    await loaded(pilot)
    screen = AgentScreen(app.hosts[0], WEB, agent=RecordedAgent(app.hosts[0], WEB))
    await app.push_screen(screen)
    await wait_for(pilot, lambda: screen.panel is not None, "the agent's panel")
    return screen


async def balloon(pilot: Pilot[None]) -> Screen[object]:
    await on_guest(pilot, "silent")
    details = await press_for(pilot, "enter", DetailsScreen)
    assert isinstance(details, DetailsScreen)
    await wait_for(pilot, lambda: details.domain_layout is not None, "the guest's devices")
    return await press_for(pilot, "b", BalloonPeriodScreen)


async def throttle(pilot: Pilot[None]) -> Screen[object]:
    await on_guest(pilot, "db-primary")
    editor = await press_for(pilot, "t", ThrottleScreen)
    assert isinstance(editor, ThrottleScreen)
    await wait_for(pilot, lambda: editor.disks is not None, "the limits")
    return editor


async def throttle_many(pilot: Pilot[None]) -> Screen[object]:
    screen = await on_guest(pilot, "db-primary")
    await pilot.press("x")
    await select(pilot, screen.table, "db-replica")
    return await press_for(pilot, "x t", ThrottleManyScreen)


async def ksm(pilot: Pilot[None]) -> Screen[object]:
    return await open_ksm(pilot)


async def ksm_tune(pilot: Pilot[None]) -> Screen[object]:
    await open_ksm(pilot)
    return await press_for(pilot, "p", KsmTuneScreen)


async def ksm_thresholds(pilot: Pilot[None]) -> Screen[object]:
    await open_ksm(pilot)
    return await press_for(pilot, "t", ThresholdsScreen)


async def storage(pilot: Pilot[None]) -> Screen[object]:
    await loaded(pilot)
    screen = await press_for(pilot, "S", StorageScreen)
    assert isinstance(screen, StorageScreen)
    await wait_for(pilot, lambda: screen.loads >= 1, "the pools")
    await wait_for(pilot, lambda: screen.volume_table.volumes, "the volumes")
    return screen


async def volume_form(pilot: Pilot[None]) -> Screen[object]:
    await storage(pilot)
    return await press_for(pilot, "c", VolumeFormScreen)


@dataclass(frozen=True)
class Case:
    name: str
    uri: str
    open: Callable[[Pilot[None]], Awaitable[Screen[object]]]
    #: Widgets (CSS selectors) that must be whole on screen.
    key_widgets: tuple[str, ...]
    stats: bool = False


NODE, THROTTLE, BALLOON = (
    node_uri(DATA / name) for name in ("node.xml", "throttle_node.xml", "balloon_node.xml")
)
DIALOG = (".dialog",)
CASES = (
    Case("guest list", NODE, guest_list, ("HostStatusBar", "GuestTable")),
    Case("details", NODE, details, ("#details-heading", "GuestFacts")),
    Case("host", NODE, host, ("HostPanel",)),
    Case("help", NODE, help_, DIALOG),
    Case("delay", NODE, delay, (*DIALOG, "Input"), stats=True),
    Case("force off question", NODE, force_off, (*DIALOG, "Button")),
    Case("undefine question", NODE, undefine, (*DIALOG, "Input", "Button")),
    Case("console", NODE, console, ("#console-header", "#console-status", "Terminal")),
    Case("agent", NODE, agent, ("#agent-heading", "#agent-state", "AgentOutput")),
    Case("balloon question", BALLOON, balloon, (*DIALOG, "Input", "Checkbox")),
    Case("throttle", THROTTLE, throttle, ("#throttle-title", "#disk-select", "#in-write_iops_sec")),
    Case("throttle many", THROTTLE, throttle_many, ("#throttle-title", "#many-disk")),
    Case("ksm", STORAGE_NODE_URI, ksm, ("#ksm-heading",)),
    Case("ksm tune", STORAGE_NODE_URI, ksm_tune, (*DIALOG, "#tune-new")),
    Case("ksm thresholds", STORAGE_NODE_URI, ksm_thresholds, (*DIALOG, "Input")),
    Case("storage", STORAGE_NODE_URI, storage, ("#pools", "#volumes", "#storage-status")),
    Case("new volume form", STORAGE_NODE_URI, volume_form, (*DIALOG, "Input")),
)


def outside(screen: Screen[object], selector: str) -> list[str]:
    """The widgets matching ``selector`` that are not whole inside the terminal."""
    terminal = Region(0, 0, *SIZE)
    widgets = list(screen.query(selector))
    if not widgets:
        return [f"{selector}: no such widget"]
    return [
        f"{widget!r} at {widget.region}"
        for widget in widgets
        if widget.display
        and (not widget.region or not terminal.contains_region(widget.region))
    ]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@run_async
async def test_each_screen_fits_80x24(case: Case) -> None:
    app = build_app(case.uri, stats=case.stats)
    async with app.run_test(size=SIZE) as pilot:
        screen = await case.open(pilot)
        footers = list(screen.query(Footer))
        if footers:  # its keys come a refresh after the screen
            await wait_for(pilot, lambda: footers[0].query(FooterKey), "the footer's keys")
        await pilot.pause()
        if shots := os.environ.get("KVMTUI_SHOTS"):
            app.save_screenshot(str(Path(shots) / f"{case.name.replace(' ', '-')}.svg"))
        for selector in case.key_widgets:
            cut = outside(screen, selector)
            assert not cut, f"{case.name}: cut off {cut}"
        if footers:
            assert footers[0].region == Region(0, SIZE[1] - 1, SIZE[0], 1), "the footer's line"
            terminal = Region(0, 0, *SIZE)
            for key in footers[0].query(FooterKey):
                if key.key == "escape":
                    assert terminal.contains_region(key.region), f"escape is cut off: {key.region}"
