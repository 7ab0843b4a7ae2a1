"""Batch mode: statistics as CSV, without the UI, for cron and monitoring pipelines.

:func:`run_batch` writes a header, then one row per guest per iteration. Rates need
two samples, so it first takes a priming sample of every host (no rows), waits
``delay``, and only then starts the iterations: each of the ``iterations`` rows of a
guest carries rates over the preceding ``delay`` seconds. The run takes about
``iterations * delay`` seconds plus the time of the calls.

Columns (``COLUMNS``; docs/monitoring.md is the reader's version):

==============  ===========================================================
timestamp       when the sample was taken, ISO-8601 UTC (``...Z``), one per host
host            the host's label
guest, uuid     the guest's name and UUID
state           running, idle, paused, in shutdown, shut off, crashed, ...
cpu_pct         share of the guest's own vCPUs busy, 0-100 (two decimals)
mem_used_kib    memory in use inside the guest, from its balloon driver
mem_max_kib     the guest's maximum memory
disk_rd_bps     disk bytes read per second, all disks (integer)
disk_wr_bps     disk bytes written per second, all disks (integer)
disk_rd_reqs    disk read requests per second, all disks (two decimals)
disk_wr_reqs    disk write requests per second, all disks (two decimals)
net_rx_bps      bytes received per second, all NICs (integer)
net_tx_bps      bytes sent per second, all NICs (integer)
cpu_time_s      cumulative CPU time of the guest, seconds (three decimals)
==============  ===========================================================

An unknown value is an empty field, never 0: no balloon driver in the guest, no NIC,
a guest that is shut off or restarted between two samples, a driver that does not
report the group.

A host that cannot be reached or fails an iteration is reported with one sentence
on ``errors_to`` and its rows are left out; the other hosts go on.
"""

from __future__ import annotations

import csv
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

import libvirt

from kvmtui.backend import errors
from kvmtui.backend.host import Host
from kvmtui.backend.model import ConnectionState, Guest, HostChange, StatusChanged
from kvmtui.backend.poller import StatsEngine, StatsUpdated
from kvmtui.backend.stats import GuestRates

COLUMNS: tuple[str, ...] = (
    "timestamp",
    "host",
    "guest",
    "uuid",
    "state",
    "cpu_pct",
    "mem_used_kib",
    "mem_max_kib",
    "disk_rd_bps",
    "disk_wr_bps",
    "disk_rd_reqs",
    "disk_wr_reqs",
    "net_rx_bps",
    "net_tx_bps",
    "cpu_time_s",
)

#: Seconds to wait for each host given as a URI to connect.
CONNECT_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """What a batch run did: rows written, and one sentence per failure."""

    rows: int
    iterations: int
    errors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def run_batch(
    hosts: Sequence[Host | str],
    iterations: int,
    delay: float,
    out: TextIO,
    *,
    errors_to: TextIO | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchSummary:
    """Write the CSV header and ``iterations`` rows per guest to ``out``.

    ``hosts`` are :class:`Host` objects (used as they are; they should be started) or
    URIs (opened read-only here and closed at the end). ``delay`` is the seconds
    between samples (virt-top's ``-d``), and also before the first iteration, whose
    rates need the priming sample. ``out`` is flushed after every iteration so a pipe
    sees rows as they come. ``clock``/``wall_clock``/``sleep`` exist for tests.

    Raises ValueError for ``iterations < 1`` or ``delay < 0``; the caller turns
    that into a usage message. libvirt failures never raise: they are sentences on
    ``errors_to`` (default stderr) and in the summary.
    """
    if iterations < 1:
        raise ValueError(f"The number of iterations must be at least 1, not {iterations}.")
    if not delay >= 0:
        raise ValueError(f"The delay must be 0 seconds or more, not {delay}.")
    err = errors_to if errors_to is not None else sys.stderr
    failures: list[str] = []

    def fail(sentence: str) -> None:
        failures.append(sentence)
        print(sentence, file=err, flush=True)

    settled: dict[Host, threading.Event] = {}
    all_hosts = [h if isinstance(h, Host) else _own_host(h, settled) for h in hosts]
    owned = [h for h, given in zip(all_hosts, hosts, strict=True) if isinstance(given, str)]
    for host in owned:
        host.start()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    out.flush()
    rows = 0
    try:
        deadline = clock() + connect_timeout
        for host in owned:
            settled[host].wait(max(0.0, deadline - clock()))
            if not host.connected:
                fail(host.status.error or f"Could not connect to {host.label} in time.")
        engines = [StatsEngine(h.label, clock=clock, wall_clock=wall_clock) for h in all_hosts]
        for host, engine in zip(all_hosts, engines, strict=True):  # priming: rates need two
            _tick(host, engine, fail)
        for _ in range(iterations):
            sleep(delay)
            for host, engine in zip(all_hosts, engines, strict=True):
                update = _tick(host, engine, fail)
                if update is None:
                    continue
                known = {g.uuid: g for g in host.guests()}
                for rates in update.guests:
                    writer.writerow(csv_row(update, rates, known.get(rates.uuid)))
                    rows += 1
            out.flush()
    finally:
        for host in owned:
            host.stop()
    return BatchSummary(rows=rows, iterations=iterations, errors=tuple(failures))


def _own_host(uri: str, settled: dict[Host, threading.Event]) -> Host:
    """A read-only Host whose event is set once its first connection attempt ends."""
    event = threading.Event()

    def listener(change: HostChange) -> None:
        if isinstance(change, StatusChanged) and change.status.state != ConnectionState.CONNECTING:
            event.set()

    host = Host(uri, readonly=True, listener=listener)
    settled[host] = event
    return host


def _tick(host: Host, engine: StatsEngine, fail: Callable[[str], None]) -> StatsUpdated | None:
    try:
        return engine.tick(host.connection("read statistics"))
    except errors.KvmtuiError as exc:
        engine.reset()
        fail(str(exc))
    except libvirt.libvirtError as exc:
        engine.reset()
        fail(str(errors.from_libvirt(exc, host=host.label, action="read statistics")))
    return None


def iso_utc(wall: float) -> str:
    """``2024-05-01T12:00:03.250Z``: ISO-8601 in UTC, milliseconds."""
    stamp = datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def csv_row(update: StatsUpdated, rates: GuestRates, guest: Guest | None = None) -> list[str]:
    """One CSV row. ``guest`` (the host's cached guest) fills the maximum memory when
    the balloon group does not report it (it is configuration, not a measurement)."""
    mem_max = rates.mem_max_kib
    if mem_max is None and guest is not None:
        mem_max = guest.max_memory_kib
    return [
        iso_utc(update.wall),
        update.host,
        rates.name,
        rates.uuid,
        str(rates.state),
        _fixed(rates.cpu_pct, 2),
        _whole(rates.mem_used_kib),
        _whole(mem_max),
        _whole(rates.disk_rd_bps),
        _whole(rates.disk_wr_bps),
        _fixed(rates.disk_rd_reqs_ps, 2),
        _fixed(rates.disk_wr_reqs_ps, 2),
        _whole(rates.net_rx_bps),
        _whole(rates.net_tx_bps),
        _fixed(rates.cpu_time_s, 3),
    ]


def _whole(value: float | None) -> str:
    return "" if value is None else str(round(value))


def _fixed(value: float | None, places: int) -> str:
    return "" if value is None else f"{value:.{places}f}"
