"""Replaying recorded statistics (tests/data/recorded_stats.json) without a clock.

The recording holds raw counters of one real tiny guest, one tick a second: idle, a
CPU loop, a disk read. :class:`ReplayPoller` stands in for a StatsPoller: when the
app starts it (its host just connected) it turns the recording into StatsUpdated
values for the running guests of the test node, each guest a scaled copy of the
recorded one, and hands every tick to the listener at once. Same input, same
figures, same history: snapshots stay deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kvmtui.backend.history import HostHistory
from kvmtui.backend.host import Host
from kvmtui.backend.hoststats import HostSample, NodeInfo, host_figures
from kvmtui.backend.model import GuestState
from kvmtui.backend.poller import StatsListener, StatsUpdated
from kvmtui.backend.stats import DiskCounters, GuestCounters, NicCounters, Sample, compute_rates

RECORDING = Path(__file__).parent / "data" / "recorded_stats.json"
FIXED_EPOCH = 1_700_000_000.0
#: tests/data/node.xml's <cpu> and <memory>.
NODE = NodeInfo("i686", 33554432, 8, 2400, 1, 1, 4, 2)


def load_recording(path: Path = RECORDING) -> list[dict[str, Any]]:
    ticks: list[dict[str, Any]] = json.loads(path.read_text())["ticks"]
    return ticks


def _scaled(first: int | None, value: int | None, factor: float) -> int | None:
    if first is None or value is None:
        return None
    return first + round((value - first) * factor)


def guest_counters(
    recorded: dict[str, Any], first: dict[str, Any], uuid: str, name: str, domain_id: int,
    state: GuestState, vcpus: int, factor: float,
) -> GuestCounters:  # fmt: skip
    """The recorded guest as another guest: counters grow ``factor`` times as fast."""
    g, f = recorded, first
    disks = tuple(
        DiskCounters(d[0], *(_scaled(a, b, factor) for a, b in zip(fd[1:], d[1:], strict=True)))
        for d, fd in zip(g["disks"], f["disks"], strict=True)
    )
    nics = tuple(
        NicCounters(n[0], *(_scaled(a, b, factor) for a, b in zip(fn[1:], n[1:], strict=True)))
        for n, fn in zip(g["nics"], f["nics"], strict=True)
    )
    return GuestCounters(
        uuid, name, domain_id, state,
        _scaled(f["cpu_time_ns"], g["cpu_time_ns"], factor * vcpus),
        vcpus,
        g["balloon_current_kib"], g["balloon_maximum_kib"],
        g["balloon_available_kib"], g["balloon_unused_kib"], g["balloon_rss_kib"],
        disks, nics,
    )  # fmt: skip


@dataclass
class ReplayPoller:
    """A StatsPoller look-alike that plays the recording once, when started."""

    host: Host
    listener: StatsListener
    interval: float
    ticks: int | None = None  # replay only the first N recorded ticks

    def __post_init__(self) -> None:
        self.history = HostHistory()
        self.paused = False
        self.started = False

    def start(self) -> None:
        self.started = True
        recording = load_recording()[: self.ticks]
        # The app starts its pollers once the list is drawn, and test:/// guests' vCPUs
        # are read right after that (Host.figures_pending): wait for them (a moment).
        self.host.wait_connected(10)
        guests = sorted(self.host.guests(), key=lambda g: g.name)
        running = [g for g in guests if g.state.active]
        first = recording[0]["guest"]
        previous: Sample | None = None
        previous_host: HostSample | None = None
        for number, tick in enumerate(recording):
            counters = []
            for g in guests:
                if g in running and g.domain_id is not None:
                    factor = (running.index(g) + 1) / len(running)
                    counters.append(
                        guest_counters(
                            tick["guest"],
                            first,
                            g.uuid,
                            g.name,
                            g.domain_id,
                            g.state,
                            g.vcpus,
                            factor,
                        )
                    )
                else:
                    counters.append(GuestCounters(g.uuid, g.name, None, g.state))
            t = float(tick["t"])
            sample = Sample.of(self.host.label, t, FIXED_EPOCH + t, counters, 0.001)
            host_sample = HostSample(t, FIXED_EPOCH + t, NODE, **tick["host"])
            figures = host_figures(previous_host, host_sample, guests)
            rates = compute_rates(previous, sample, NODE.cpus)
            self.history.append(sample.wall, rates, figures)
            self.listener(
                StatsUpdated(
                    host=self.host.label,
                    tick=number,
                    wall=sample.wall,
                    monotonic=t,
                    elapsed=t - previous.monotonic if previous is not None else None,
                    guests=rates,
                    host_figures=figures,
                    collect_s=0.001,
                    sample=sample,
                    previous=previous,
                )
            )
            previous, previous_host = sample, host_sample

    def stop(self, timeout: float = 5.0) -> None:
        pass

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def poll_now(self) -> None:
        pass

    def set_interval(self, seconds: float) -> None:
        self.interval = seconds


def replay(ticks: int | None = None) -> Callable[[Host, StatsListener, float], ReplayPoller]:
    """A poller factory for ``make_app(stats=...)``."""

    def factory(host: Host, listener: StatsListener, interval: float) -> ReplayPoller:
        return ReplayPoller(host, listener, interval, ticks)

    return factory


RECORDED_TICKS = len(load_recording())
