"""Snapshots of the KSM and overcommit screen from fixed data.

The host is libvirt's test:/// driver on tests/data/storage-node.xml (4 CPUs, 16 GiB,
app-1 and app-2 running, build and archive shut off). The test driver has no KSM, so
the screen reads KSM from tests/data/ksm_recorded.json instead: 22 readings of two
identical tiny guests merging on a real host, one a second. The history is filled
with them before the screen opens and the poll interval is an hour, so exactly one
poll (the last reading again) lands before the shot.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from kvmtui.backend.host import Host
from kvmtui.backend.ksm import GuestKsm, KsmCounters, KsmHistory, KsmLocal, KsmReading
from kvmtui.backend.model import ConnectionState
from kvmtui.screens.ksm import KsmScreen
from kvmtui.screens.ksm_thresholds import ThresholdsScreen
from kvmtui.screens.ksm_tune import KsmTuneScreen
from kvmtui.tui.app import KvmtuiApp, make_app

DATA = Path(__file__).parent.parent / "tests" / "data"
NODE_URI = f"test://{DATA / 'storage-node.xml'}"
FIXED_EPOCH = 1_700_000_000.0


def recorded_readings() -> list[KsmReading]:
    readings: list[dict[str, Any]] = json.loads((DATA / "ksm_recorded.json").read_text())[
        "readings"
    ]
    return [
        KsmReading(
            host=r["host"],
            wall=r["wall"],
            counters=KsmCounters(**r["counters"]),
            local=KsmLocal(**r["local"]) if r["local"] else None,
            guests=tuple(GuestKsm(**g) for g in r["guests"]),
        )
        for r in readings
    ]


class Replay:
    """Stands in for ``read_ksm``: every poll gets the last recorded reading."""

    def __init__(self) -> None:
        self.readings = recorded_readings()

    def __call__(self, host: Host) -> KsmReading:
        return replace(self.readings[-1], host=host.label)

    def histories(self, label: str) -> dict[str, KsmHistory]:
        history = KsmHistory()
        for reading in self.readings[:-1]:
            history.append(replace(reading, host=label))
        return {label: history}


def build() -> KvmtuiApp:
    app = make_app([NODE_URI], clock=lambda: FIXED_EPOCH, retry_delays=(3600.0,), stats=False)
    app.animation_level = "none"
    return app


async def wait_for(pilot: Pilot[None], ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 15.0
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def open_ksm(pilot: Pilot[None]) -> KsmScreen:
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    host = app.hosts[0]
    await wait_for(pilot, lambda: host.status.state is ConnectionState.CONNECTED, "the node")
    await wait_for(pilot, lambda: len(host.guests()) == 4, "four guests")
    replay = Replay()
    screen = KsmScreen(
        app.hosts, reader=replay, interval=3600.0, histories=replay.histories(host.label)
    )
    await app.push_screen(screen)
    await wait_for(pilot, lambda: screen.polls == 1, "the first poll")
    await pilot.pause()
    return screen


def test_ksm_screen(snap_compare) -> None:
    """test:storage-node, "KSM running" in green: memory saved 147 MiB, sharing ratio
    4.2 per page, pages shared 9,016, sharing 37,505, unshared 6,906, volatile 16,969,
    16 full scans, pages to scan 1,000, sleep 10 ms, merge across nodes 1, general
    profit 142 MiB, zero pages 0; the Saved graph climbs from flat to full at the right
    with now 147 MiB, min 0 KiB, max 147 MiB; app-2 (17,380) then app-1 (17,361)
    merging pages, 68 MiB each. Overcommit: host 4 CPUs, 16.0 GiB and 16.1 GiB with KSM;
    running 2 guests 4 vCPUs 1.00x green, 8.0 GiB 0.50x green; defined 4 guests 10 vCPUs
    2.50x yellow, 22.0 GiB 1.38x red (1.36x red with KSM); "Would not fit if all
    started: build" in red (archive, first by name, takes the room left). Tuning
    allowed; run/stop disabled with libvirt's reason (no call to start or stop KSM);
    the footer shows Pages to scan, Sleep, Thresholds, with Run and Stop dimmed."""

    async def run_before(pilot: Pilot[None]) -> None:
        await open_ksm(pilot)

    assert snap_compare(build(), terminal_size=(110, 48), run_before=run_before)


def test_ksm_tune_refuses_out_of_range(snap_compare) -> None:
    """p, then 4294967296 and enter: the dialog "KSM pages to scan on test:storage-node"
    shows "current: 1000 (pages per wake-up)", the typed value, and in red "4294967296 is
    out of range; pages to scan takes 0 to 4294967295 (pages per wake-up). Nothing was
    changed."; it stays open."""

    async def run_before(pilot: Pilot[None]) -> None:
        await open_ksm(pilot)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, KsmTuneScreen), "dialog")
        dialog = pilot.app.screen
        assert isinstance(dialog, KsmTuneScreen)
        await pilot.press("ctrl+a", "ctrl+k", *"4294967296", "enter")
        await wait_for(pilot, lambda: "out of range" in dialog.error_text, "the refusal")
        for widget in dialog.query("Input"):
            widget.cursor_blink = False  # type: ignore[attr-defined]

    assert snap_compare(build(), terminal_size=(110, 48), run_before=run_before)


def test_overcommit_thresholds_changed(snap_compare) -> None:
    """t, memory warning 1.5 and critical 2.5, enter: the overcommit table recolours:
    defined memory 1.38x and 1.36x turn green, vCPU colours unchanged (1.00x green,
    2.50x yellow); the legend reads "memory warn 1.5x, critical 2.5x"; a notice says the
    thresholds changed."""

    async def run_before(pilot: Pilot[None]) -> None:
        screen = await open_ksm(pilot)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ThresholdsScreen), "dialog")
        dialog = pilot.app.screen
        for key, value in (("mem_warn", "1.5"), ("mem_critical", "2.5")):
            field = dialog.query_one(f"#{key}")
            field.value = value  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.thresholds.mem_warn == 1.5, "new thresholds")
        await wait_for(pilot, lambda: pilot.app.screen is screen, "the dialog to close")

    assert snap_compare(build(), terminal_size=(110, 48), run_before=run_before)
