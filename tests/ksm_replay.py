"""The KSM screen on libvirt's test:/// driver, fed with recorded KSM readings.

The test driver has no KSM, so the screen reads tests/data/ksm_recorded.json instead:
22 readings of two identical tiny guests merging on a real host, one a second. The
history is filled with them before the screen opens and the poll interval is an hour,
so exactly one poll (the last reading again) lands before the test looks.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from kvmtui.backend.host import Host
from kvmtui.backend.ksm import GuestKsm, KsmCounters, KsmHistory, KsmLocal, KsmReading
from kvmtui.backend.model import ConnectionState
from kvmtui.screens.ksm import KsmScreen
from kvmtui.tui.app import KvmtuiApp
from tests.pilot import wait_for

DATA = Path(__file__).parent / "data"


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


async def open_ksm(pilot: Pilot[None], guests: int = 4) -> KsmScreen:
    """Push the KSM screen of the app's first host (``guests`` defined) on replay."""
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    host = app.hosts[0]
    await wait_for(pilot, lambda: host.status.state is ConnectionState.CONNECTED, "the node")
    await wait_for(
        pilot,
        lambda: len(host.guests()) == guests and not host.figures_pending,
        f"{guests} guests with their vCPUs and memory",
    )
    replay = Replay()
    screen = KsmScreen(
        app.hosts, reader=replay, interval=3600.0, histories=replay.histories(host.label)
    )
    await app.push_screen(screen)
    await wait_for(pilot, lambda: screen.polls == 1, "the first poll", timeout=15.0)
    await pilot.pause()
    return screen
