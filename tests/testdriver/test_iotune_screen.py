"""The throttle editor driven through the Pilot on the test:/// driver: apply, read-back,
clear with confirmation, refusal on a read-only connection."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import libvirt
from textual.pilot import Pilot
from textual.screen import Screen

from conftest import node_uri
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.throttle import NIC_TAB, ThrottleScreen
from kvmtui.screens.throttle_preview import ThrottlePreviewScreen
from kvmtui.tui.app import KvmtuiApp
from tests.pilot import build_app, loaded, open_throttle, run_async, select, wait_for

NODE = Path(__file__).parents[1] / "data" / "throttle_node.xml"
PRIMARY = "6695eb01-f6a4-8304-79aa-97f2502e1a01"
LIVE, CONFIG = libvirt.VIR_DOMAIN_AFFECT_LIVE, libvirt.VIR_DOMAIN_AFFECT_CONFIG


@contextlib.asynccontextmanager
async def editor(
    tab: str = "disk-tab", *, readonly: bool = False
) -> AsyncIterator[tuple[Pilot[None], ThrottleScreen]]:
    """The app on NODE (130x44) with PRIMARY's throttle editor open on ``tab``, limits read."""
    app = build_app(node_uri(NODE), readonly=readonly)
    async with app.run_test(size=(130, 44)) as pilot:
        yield pilot, await open_throttle(pilot, PRIMARY, tab)


def status_text(screen: ThrottleScreen) -> str:
    return str(screen.query_one("#throttle-status").render())


async def wait_for_screen(pilot: Pilot[None], kind: type[Screen[Any]]) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, kind), kind.__name__)


def primary(pilot: Pilot[None]) -> libvirt.virDomain:
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    return app.hosts[0].connection().lookupByUUIDString(PRIMARY)


@run_async
async def test_apply_previews_then_reads_back() -> None:
    async with editor() as (pilot, screen):
        screen.disk_form.input("total_iops_sec").value = "400"
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, ThrottlePreviewScreen)
        dom = primary(pilot)
        assert dom.blockIoTune("vda", LIVE)["total_iops_sec"] == 500, "sent before the preview"
        await pilot.press("y")
        await wait_for(pilot, lambda: "Applied to disk vda" in status_text(screen), "result")
        assert "kept every value as asked" in status_text(screen)
        for flag in (LIVE, CONFIG):
            assert dom.blockIoTune("vda", flag)["total_iops_sec"] == 400
        assert screen.disk_form.pending() == ()


@run_async
async def test_cancelled_preview_sends_nothing() -> None:
    async with editor() as (pilot, screen):
        screen.disk_form.input("total_iops_sec").value = "400"
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, ThrottlePreviewScreen)
        await pilot.press("n")
        await wait_for(pilot, lambda: "Not applied" in status_text(screen), "cancel")
        assert primary(pilot).blockIoTune("vda", LIVE)["total_iops_sec"] == 500


@run_async
async def test_clear_asks_then_removes_every_limit_of_the_scope() -> None:
    async with editor() as (pilot, screen):
        await pilot.press("ctrl+g")  # both -> live
        await pilot.press("ctrl+l")
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: "Applied to disk vda" in status_text(screen), "result")
        dom = primary(pilot)
        assert dom.blockIoTune("vda", LIVE)["total_iops_sec"] == 0
        assert dom.blockIoTune("vda", CONFIG)["total_iops_sec"] == 500


@run_async
async def test_network_tab_applies_to_the_saved_configuration() -> None:
    async with editor(NIC_TAB) as (pilot, screen):
        await pilot.press("ctrl+g", "ctrl+g")  # both -> live -> config
        screen.nic_form.input("outbound.average").value = "2M"
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, ThrottlePreviewScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: "Applied to interface" in status_text(screen), "result")
        dom = primary(pilot)
        assert dom.interfaceParameters("52:54:00:12:34:56", CONFIG)["outbound.average"] == 2048
        assert dom.interfaceParameters("52:54:00:12:34:56", LIVE)["outbound.average"] == 0


@run_async
async def test_read_only_connection_is_refused_without_a_preview() -> None:
    async with editor(readonly=True) as (pilot, screen):
        screen.disk_form.input("total_iops_sec").value = "400"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "read-only" in status_text(screen), "refusal")
        assert not isinstance(pilot.app.screen, ThrottlePreviewScreen)


@run_async
async def test_focus_starts_on_the_first_value_and_tab_goes_down_the_column() -> None:
    app = build_app(node_uri(NODE), stats=False)
    async with app.run_test(size=(130, 44)) as pilot:
        screen = await loaded(pilot)
        await select(pilot, screen.table, "db-primary")
        for opening in range(2):  # the same field each time, not what happened to be first
            await pilot.press("t")
            await wait_for_screen(pilot, ThrottleScreen)
            editor = app.screen
            assert isinstance(editor, ThrottleScreen)
            await wait_for(pilot, lambda e=editor: e.disks is not None, "the limits")
            form = editor.disk_form
            first = form.input(form.rows[0].name)
            assert app.focused is first, f"opening {opening + 1}: focus on {app.focused}"
            for row in form.rows[1:4]:
                await pilot.press("tab")
                assert app.focused is form.input(row.name), f"tab to {row.label}"
            read_bytes = form.input("read_bytes_sec")
            assert read_bytes.value == "50M"
            read_bytes.focus()
            await pilot.press(*"20M")
            assert read_bytes.value == "20M", "typing replaces the value shown"
            await pilot.press("shift+tab")
            assert app.focused is form.input(form.rows[0].name)
            await pilot.press("ctrl+t")
            await wait_for(pilot, lambda e=editor: e.active_tab == NIC_TAB, "the network tab")
            assert app.focused is editor.nic_form.input(editor.nic_form.rows[0].name)
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is screen, "the list again")
