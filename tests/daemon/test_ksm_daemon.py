"""KSM on the real host through the real daemon: merging seen on screen, tuning round trips.

KSM is global to the host, so every test that touches it saves run and the tunables
from sysfs first and restores them afterwards whatever happens (the ``ksm_restored``
fixture). Set KVMTUI_RECORD_KSM=path to write the readings the screen saw as JSON
(tests/data/ksm_recorded.json was made that way; the KSM snapshot replays it).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
from rich.console import Console

from kvmtui.backend import ksm
from kvmtui.backend.host import Host
from kvmtui.screens.ksm import KsmScreen
from kvmtui.tui.format import human_kib
from kvmtui.tui.widgets.ksm_panel import KsmPanel, figures_view
from tests.harness.guests import GuestFactory
from tests.hosts import started_host
from tests.pilot import build_app, run_async, wait_for

pytestmark = pytest.mark.daemon

SYSFS = ksm.SYSFS
SAVED_FILES = ("pages_to_scan", "sleep_millisecs", "run")
#: The issue's figures: about 25,000 pages sharing after 15 s on an idle host.
SHARING_DEADLINE_S = 150.0


def sysfs(name: str) -> int:
    return int((SYSFS / name).read_text().strip())


@pytest.fixture
def ksm_restored() -> Iterator[dict[str, int]]:
    """Saves run, pages_to_scan and sleep_millisecs; puts them back after the test."""
    if not SYSFS.is_dir() or os.geteuid() != 0:
        pytest.skip("needs root and /sys/kernel/mm/ksm")
    saved = {name: sysfs(name) for name in SAVED_FILES}
    yield saved
    for name in ("pages_to_scan", "sleep_millisecs"):
        with contextlib.suppress(OSError):
            (SYSFS / name).write_text(f"{saved[name]}\n")
    if saved["run"] != ksm.KsmRun.RUN:
        # Split what the test merged, then leave KSM as it was.
        with contextlib.suppress(OSError):
            (SYSFS / "run").write_text(f"{int(ksm.KsmRun.UNMERGE)}\n")
    with contextlib.suppress(OSError):
        (SYSFS / "run").write_text(f"{saved['run']}\n")
    assert {name: sysfs(name) for name in SAVED_FILES} == saved


@pytest.fixture
def host(daemon_uri: str) -> Iterator[Host]:
    with started_host(daemon_uri) as host:
        yield host


def test_tuning_round_trip_through_libvirt_read_back_from_sysfs(
    host: Host, ksm_restored: dict[str, int]
) -> None:
    new_scan = 1234 if ksm_restored["pages_to_scan"] != 1234 else 1235
    old, after = ksm.set_tunable(host, "pages_to_scan", str(new_scan))
    assert old == ksm_restored["pages_to_scan"]
    assert after.counters is not None and after.counters.pages_to_scan == new_scan
    assert sysfs("pages_to_scan") == new_scan

    old_sleep, after = ksm.set_tunable(host, "sleep_millisecs", " 37 ")
    assert old_sleep == ksm_restored["sleep_millisecs"]
    assert sysfs("sleep_millisecs") == 37
    assert after.counters is not None and after.counters.sleep_millisecs == 37


@pytest.mark.parametrize(
    ("key", "text", "words"),
    [
        ("pages_to_scan", "lots", "not a whole number"),
        ("pages_to_scan", "-5", "not a whole number"),
        ("pages_to_scan", "1e3", "not a whole number"),
        ("pages_to_scan", str(2**32), "out of range"),
        ("sleep_millisecs", "2.5", "not a whole number"),
        ("sleep_millisecs", "99999999999", "out of range"),
        ("merge_across_nodes", "2", "out of range"),
    ],
)
def test_bad_values_refused_and_nothing_changed(
    host: Host, ksm_restored: dict[str, int], key: str, text: str, words: str
) -> None:
    before = {name: sysfs(name) for name in (*SAVED_FILES, "merge_across_nodes")}
    with pytest.raises(ksm.KsmValueError, match=words):
        ksm.set_tunable(host, key, text)
    assert {name: sysfs(name) for name in before} == before


def test_run_stop_through_sysfs(host: Host, ksm_restored: dict[str, int]) -> None:
    after = ksm.set_run(host, ksm.KsmRun.RUN)
    assert after.running is True and sysfs("run") == 1
    after = ksm.set_run(host, ksm.KsmRun.STOP)
    assert after.running is False and sysfs("run") == 0


def _record(screen: KsmScreen, label: str, path: str) -> None:
    readings = [asdict(r) for r in screen.histories[label]._readings]
    source = "tests/daemon/test_ksm_daemon.py"
    Path(path).write_text(json.dumps({"source": source, "readings": readings}))


@run_async
async def test_two_identical_guests_share_pages_on_screen(
    daemon_uri: str, guest_factory: GuestFactory, ksm_restored: dict[str, int]
) -> None:
    guests = [guest_factory(), guest_factory()]
    names = {dom.name() for dom in guests}
    app = build_app(daemon_uri, stats=False, clock=time.time, retry_delays=None)
    app.animation_level = "none"
    async with app.run_test(size=(120, 60)) as pilot:
        host = app.hosts[0]
        await wait_for(pilot, lambda: host.connected, "the daemon", 30)
        await wait_for(
            pilot,
            lambda: names <= {g.name for g in host.guests() if g.active},
            "both guests running",
            60,
        )
        # Fast scanning, switched on through the backend the screen's keys use.
        ksm.set_tunable(host, "pages_to_scan", "1000")
        ksm.set_tunable(host, "sleep_millisecs", "10")
        ksm.set_run(host, ksm.KsmRun.RUN)
        started = time.monotonic()
        screen = KsmScreen(app.hosts, interval=1.0)
        await app.push_screen(screen)

        def sharing() -> int:
            reading = screen.readings.get(host.label)
            counters = reading.counters if reading else None
            return counters.pages_sharing or 0 if counters else 0

        await wait_for(pilot, lambda: sharing() > 0, "pages sharing > 0", SHARING_DEADLINE_S)
        # Let a few more polls land so the graph and the per-guest figures fill in.
        polls, more = screen.polls, 20 if os.environ.get("KVMTUI_RECORD_KSM") else 3
        await wait_for(pilot, lambda: screen.polls >= polls + more, "more polls", 120)
        seconds = time.monotonic() - started
        reading = screen.readings[host.label]
        assert reading is not None and reading.counters is not None
        assert reading.saved_kib and reading.saved_kib > 0
        panel = screen.query_one(KsmPanel)
        assert panel.reading is not None and panel.reading.saved_kib
        console = Console(width=120, record=True, file=io.StringIO())
        console.print(figures_view(panel.reading, None))
        first_line = console.export_text().splitlines()[0]
        assert "memory saved" in first_line, first_line
        assert human_kib(panel.reading.saved_kib) in first_line, first_line
        merging = {g.name: g.merging_pages for g in reading.guests}
        assert names & merging.keys(), f"no per-guest KSM figures for {names}: {merging}"
        print(
            f"\nKSM after {seconds:.0f} s: pages_sharing={reading.counters.pages_sharing} "
            f"pages_shared={reading.counters.pages_shared} saved={reading.saved_kib} KiB "
            f"ratio={reading.sharing_ratio} guests={merging}"
        )
        if os.environ.get("KVMTUI_RECORD_KSM"):
            _record(screen, host.label, os.environ["KVMTUI_RECORD_KSM"])
        await pilot.press("escape")
