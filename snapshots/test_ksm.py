"""Snapshots of the KSM and overcommit screen from fixed data.

The host is libvirt's test:/// driver on tests/data/storage-node.xml (4 CPUs, 16 GiB,
app-1 and app-2 running, build and archive shut off), with KSM replayed from
tests/data/ksm_recorded.json (tests/ksm_replay.py).
"""

from __future__ import annotations

from textual.pilot import Pilot

from kvmtui.screens.ksm_thresholds import ThresholdsScreen
from kvmtui.screens.ksm_tune import KsmTuneScreen
from tests.ksm_replay import open_ksm
from tests.pilot import STORAGE_NODE_URI, build_app, no_blink, wait_for


def test_ksm_screen(snap_compare) -> None:
    """test:storage-node, "KSM running" in green: memory saved 147 MiB, sharing ratio
    4.2 per page, pages shared 9,016, sharing 37,505, unshared 6,906, volatile 16,969,
    16 full scans, pages to scan 1,000, sleep 10 ms, merge across nodes 1, general
    profit 142 MiB, zero pages 0; the Saved graph climbs from flat to full at the right
    with now 147 MiB, min 0 KiB, max 147 MiB; app-2 (17,380) then app-1 (17,361)
    merging pages, 68 MiB each. Overcommit: host 4 CPUs, 16.0 GiB and 16.1 GiB with KSM;
    active 2 guests 4 vCPUs 1.00x green, 8.0 GiB 0.50x green; defined 4 guests 10 vCPUs
    2.50x yellow, 22.0 GiB 1.38x red (1.36x red with KSM); "Would not fit if all
    started: build" in red (archive, first by name, takes the room left). Tuning
    allowed; run/stop disabled with libvirt's reason (no call to start or stop KSM);
    the footer shows Pages to scan, Sleep, Thresholds, with Run and Stop dimmed."""

    async def run_before(pilot: Pilot[None]) -> None:
        await open_ksm(pilot)

    app = build_app(STORAGE_NODE_URI, stats=False)
    assert snap_compare(app, terminal_size=(110, 48), run_before=run_before)


def test_ksm_tune_refuses_out_of_range(snap_compare) -> None:
    """p, then 4294967296 and enter: the dialog "KSM pages to scan on test:storage-node"
    shows "current: 1000 (pages per wake-up)", then "new value" beside the field still
    holding 4294967296, then after a blank line in red "4294967296 is out of range; pages
    to scan takes 0 to 4294967295 (pages per wake-up). Nothing was changed."; it stays
    open."""

    async def run_before(pilot: Pilot[None]) -> None:
        await open_ksm(pilot)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, KsmTuneScreen), "dialog")
        dialog = pilot.app.screen
        assert isinstance(dialog, KsmTuneScreen)
        await pilot.press("ctrl+a", "ctrl+k", *"4294967296", "enter")
        await wait_for(pilot, lambda: "out of range" in dialog.error_text, "the refusal")
        no_blink(pilot)

    app = build_app(STORAGE_NODE_URI, stats=False)
    assert snap_compare(app, terminal_size=(110, 48), run_before=run_before)


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

    app = build_app(STORAGE_NODE_URI, stats=False)
    assert snap_compare(app, terminal_size=(110, 48), run_before=run_before)
