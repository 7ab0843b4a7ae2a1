"""Benchmark of the statistics engine at 1,000 and 10,000 guests, through a real libvirtd.

    .venv/bin/python bench/stats_bench.py [--sizes 1000 10000] [--ticks 10]

Each size runs in its own process (so its peak RSS is its own) against a test-driver
host of N guests served by libvirtd (``test+unix:///default``, bench/nodes.py; the
in-process test driver would hide the RPC cost). Per tick it measures, as medians:

- host:     getInfo + getCPUStats + getMemoryStats (3 RPCs)
- rpc:      one getAllDomainStats call alone (libvirt-python builds the reply)
- bulk:     the same call and parsing its reply into a Sample
- rates:    rates against the previous tick, host figures and overcommit
- history:  appending the tick to the ring buffers
- tick:     the sum, what one StatsEngine.tick costs (the UI part is measured later)
- subset50: domainListGetStats for 50 visible guests (and parsing)
- rpc_visible: domainListGetStats for the 47 rows of a 160x50 list, the call alone
- rpc_sliced: domainListGetStats for those 47 and one slice of off-screen guests
  (``backend.poller.slice_size``), the call alone: what a tick asks on a big host
- engine_visible / engine_full: the app's StatsEngine, visible-first (those 47 guests
  every tick, plus a slice of the others on a host above SLICE_ABOVE guests, else
  every guest every FULL_EVERY ticks), whole ticks through the daemon; engine_max the
  slowest after the first (the first reads everyone to learn the domains)

The test driver of libvirt 9.0 returns only the state group, so "full-width" figures
repeat parsing, rates and history on synthetic records shaped like a real guest's
(cpu, vcpu, balloon, one disk, one NIC: 50 fields), without the RPC.

The baseline polls per guest the way other terminal managers do: ``info``,
``blockStats('vda')``, ``interfaceStats(MAC)`` and ``memoryStats`` (the test driver
supports all four; it finds a NIC by MAC). The ratio is baseline / bulk.

Peak RSS is measured twice: after the real ticks, and after filling the whole history
(every metric known for every guest for every kept tick), the worst case; both before
the synthetic full-width records exist, which would inflate the peak. The figures
cover the backend only; the app's table and screens come on top.

Prints a table and writes bench/results/stats.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RESULTS = REPO / "bench" / "results" / "stats.json"
SUBSET = 50
#: Guest rows on screen in the UI benchmark's 160x50 terminal.
VISIBLE = 47


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_size(guests: int, ticks: int) -> dict[str, Any]:
    """Measure one size in this process; returns the figures."""
    import libvirt

    from bench.nodes import SERVED_URI, full_stats, guest_mac, guest_uuid, serve_guests
    from kvmtui.backend.guests import read_all_guests
    from kvmtui.backend.history import DEFAULT_CAPACITY, HostHistory
    from kvmtui.backend.hoststats import HostSampler, host_figures
    from kvmtui.backend.model import GuestState
    from kvmtui.backend.poller import FULL_EVERY, SLICE_ABOVE, StatsEngine
    from kvmtui.backend.stats import (
        NOWAIT,
        STATS_GROUPS,
        GuestRates,
        Sample,
        StatsCollector,
        compute_rates,
        parse_counters,
    )

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    keeper = serve_guests(guests)  # the daemon keeps the guests while it is open
    uri = SERVED_URI
    started = time.perf_counter()
    conn = libvirt.openReadOnly(uri)
    open_s = time.perf_counter() - started
    started = time.perf_counter()
    guest_list = read_all_guests("bench", conn)
    list_s = time.perf_counter() - started
    assert len(guest_list) == guests, f"the daemon served {len(guest_list)} guests"

    collector = StatsCollector("bench")
    host_sampler = HostSampler()
    history = HostHistory()
    previous = collector.sample(conn)
    previous_host = host_sampler.sample(conn)
    parts: dict[str, list[float]] = {k: [] for k in ("host", "bulk", "rates", "history", "tick")}
    for _ in range(ticks):
        t0 = time.perf_counter()
        host_sample = host_sampler.sample(conn)
        t1 = time.perf_counter()
        sample = collector.sample(conn)
        t2 = time.perf_counter()
        figures = host_figures(previous_host, host_sample, guest_list)
        rates = compute_rates(previous, sample, host_sample.node.cpus)
        t3 = time.perf_counter()
        history.append(sample.wall, rates, figures)
        t4 = time.perf_counter()
        previous, previous_host = sample, host_sample
        for key, value in (
            ("host", t1 - t0),
            ("bulk", t2 - t1),
            ("rates", t3 - t2),
            ("history", t4 - t3),
            ("tick", t4 - t0),
        ):
            parts[key].append(value)
    assert len(rates) == guests
    rss_ticks = _peak_rss_mib()

    domains = conn.listAllDomains(0)
    visible = domains[:SUBSET]
    shown = [d for d, _ in conn.getAllDomainStats(STATS_GROUPS, NOWAIT)][:VISIBLE]
    from kvmtui.backend.poller import slice_size

    size = slice_size(guests) if guests > SLICE_ABOVE else 0
    sliced = shown + [d for d in domains if d not in shown][:size]
    subset, rpc, rpc_visible, rpc_sliced = [], [], [], []
    for _ in range(ticks):
        t0 = time.perf_counter()
        collector.sample(conn, visible)
        t1 = time.perf_counter()
        conn.getAllDomainStats(STATS_GROUPS, NOWAIT)  # the call alone, without parsing
        t2 = time.perf_counter()
        conn.domainListGetStats(shown, STATS_GROUPS, NOWAIT)  # the shown rows' call alone
        t3 = time.perf_counter()
        conn.domainListGetStats(sliced, STATS_GROUPS, NOWAIT)  # shown + a slice, alone
        rpc_sliced.append(time.perf_counter() - t3)
        subset.append(t1 - t0)
        rpc.append(t2 - t1)
        rpc_visible.append(t3 - t2)

    # The app's poller, visible-first: the shown guests every tick, all every FULL_EVERY.
    engine = StatsEngine("bench", history=HostHistory())
    shown_uuids = {d.UUIDString() for d in shown}
    engine_ticks: dict[str, list[float]] = {"visible": [], "full": [], "first": []}
    for n in range(3 * FULL_EVERY + 1):
        t0 = time.perf_counter()
        update = engine.tick(conn, guest_list, visible=shown_uuids)
        kind = "first" if not n else "visible" if not update.complete else "full"
        engine_ticks[kind].append(time.perf_counter() - t0)

    # The worst case for memory: every metric known for every guest, a whole lap.
    full_history = HostHistory()
    known = [
        GuestRates("bench", guest_uuid(i), f"bench-{i:05d}", GuestState.RUNNING, i + 1, 2,
                   1.0, 12.5, 0.4, 400_000, 300_000, 1048576, 1048576,
                   1e6, 2e5, 100.0, 20.0, 3e4, 2e4, 30.0, 20.0)
        for i in range(guests)
    ]  # fmt: skip
    for _ in range(DEFAULT_CAPACITY):
        full_history.append(3.0, known, None)
    rss_full = _peak_rss_mib()
    history_mib = round(full_history.nbytes() / 2**20, 1)
    del known, full_history

    # Full-width records, as a real guest reports them (no RPC: the test driver can't).
    records = [[full_stats(i, tick) for i in range(guests)] for tick in (1, 2)]
    full: dict[str, list[float]] = {"parse": [], "rates": [], "history": []}
    width_history = HostHistory()
    for _ in range(max(3, ticks // 2)):
        t0 = time.perf_counter()
        samples = [
            Sample.of(
                "bench",
                float(n),
                float(n),
                [
                    parse_counters(guest_uuid(i), f"bench-{i:05d}", i + 1, stats)
                    for i, stats in enumerate(recs)
                ],
            )
            for n, recs in enumerate(records)
        ]
        t1 = time.perf_counter()
        full_rates = compute_rates(samples[0], samples[1], 64)
        t2 = time.perf_counter()
        width_history.append(2.0, full_rates, None)
        t3 = time.perf_counter()
        full["parse"].append((t1 - t0) / 2)
        full["rates"].append(t2 - t1)
        full["history"].append(t3 - t2)
    assert full_rates[0].cpu_pct is not None and full_rates[0].disk_rd_bps is not None
    del records, samples

    rounds = 3 if guests <= 1000 else 1
    macs = [guest_mac(int(dom.name().removeprefix("bench-"))) for dom in domains]
    baseline = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for dom, mac in zip(domains, macs, strict=True):
            dom.info()
            dom.blockStats("vda")
            dom.interfaceStats(mac)
            dom.memoryStats()
        baseline.append(time.perf_counter() - t0)

    conn.close()
    keeper.close()

    bulk_ms = _median_ms(parts["bulk"])
    baseline_ms = _median_ms(baseline)
    return {
        "guests": guests,
        "ticks": ticks,
        "open_ms": round(open_s * 1000, 1),
        "initial_guest_list_ms": round(list_s * 1000, 1),
        "per_tick_ms": {key: _median_ms(values) for key, values in parts.items()},
        "bulk_rpc_only_ms": _median_ms(rpc),
        "subset50_ms": _median_ms(subset),
        "rpc_visible_ms": _median_ms(rpc_visible),
        "visible_rows": VISIBLE,
        "engine_visible_tick_ms": _median_ms(engine_ticks["visible"]),
        "engine_full_tick_ms": _median_ms(engine_ticks["full"] or engine_ticks["first"]),
        "engine_max_tick_ms": round(max(engine_ticks["visible"] + engine_ticks["full"]) * 1000, 3),
        "engine_full_ticks_after_first": len(engine_ticks["full"]),
        "slice": size,
        "rpc_sliced_ms": _median_ms(rpc_sliced),
        "full_width_ms": {key: _median_ms(values) for key, values in full.items()},
        # host + bulk RPC (state only here) + parse, rates and history at full width
        "full_width_tick_ms": round(
            _median_ms(parts["host"]) + bulk_ms + sum(_median_ms(v) for v in full.values()), 3
        ),
        "baseline_per_guest_ms": baseline_ms,
        "baseline_rounds": rounds,
        "baseline_over_bulk": round(baseline_ms / bulk_ms, 1) if bulk_ms else None,
        "peak_rss_mib_after_ticks": rss_ticks,
        "peak_rss_mib_full_history": rss_full,
        "history_mib_full": history_mib,
        "history_capacity": DEFAULT_CAPACITY,
    }


def _print_table(results: list[dict[str, Any]]) -> None:
    print()
    print("Statistics engine per tick, medians in ms (through libvirtd, test driver)")
    head = (
        f"{'guests':>7} {'host':>6} {'rpc':>7} {'bulk':>7} {'rates':>7} {'hist':>6} {'tick':>7}"
        f" {'rpc47':>6} | {'full: parse':>11} {'rates':>7} {'hist':>6} {'tick':>7}"
        f" | {'per-guest':>9} {'ratio':>6} | {'RSS MiB':>7} {'full':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        t, f = r["per_tick_ms"], r["full_width_ms"]
        print(
            f"{r['guests']:>7} {t['host']:>6.2f} {r['bulk_rpc_only_ms']:>7.2f} {t['bulk']:>7.2f}"
            f" {t['rates']:>7.2f}"
            f" {t['history']:>6.2f} {t['tick']:>7.2f} {r['rpc_visible_ms']:>6.2f}"
            f" | {f['parse']:>11.2f} {f['rates']:>7.2f} {f['history']:>6.2f}"
            f" {r['full_width_tick_ms']:>7.2f}"
            f" | {r['baseline_per_guest_ms']:>9.1f} {r['baseline_over_bulk']:>5.0f}x"
            f" | {r['peak_rss_mib_after_ticks']:>7.1f} {r['peak_rss_mib_full_history']:>6.1f}"
        )
    print()
    print("host: getInfo+getCPUStats+getMemoryStats; rpc: getAllDomainStats alone;")
    print("bulk: getAllDomainStats + parse into samples; tick: host+bulk+rates+history;")
    print("full: the same work on synthetic full-width records (50 fields a guest);")
    print("per-guest: info+blockStats+interfaceStats+memoryStats for every guest;")
    for r in results:
        print(
            f"{r['guests']:>7} guests, visible-first engine through the daemon:"
            f" visible tick {r['engine_visible_tick_ms']:.2f} ms, full tick"
            f" {r['engine_full_tick_ms']:.1f} ms, slowest {r['engine_max_tick_ms']:.1f} ms,"
            f" slice {r['slice']} (rpc {r['rpc_sliced_ms']:.1f} ms) (per-guest baseline"
            f" {r['baseline_per_guest_ms'] / max(r['engine_visible_tick_ms'], 1e-9):.0f}x"
            f" / {r['baseline_per_guest_ms'] / max(r['engine_full_tick_ms'], 1e-9):.0f}x);"
            f" open {r['open_ms']:.0f} ms, guest list {r['initial_guest_list_ms']:.0f} ms"
        )
    print("rpc47: domainListGetStats for the 47 shown rows, the call alone;")
    print("ratio: per-guest / bulk; RSS: peak after the ticks, then with a full history")
    print("(every metric of every guest known for 200 ticks). Backend only: the UI comes on top.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--ticks", type=int, default=10)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_size(args.child, args.ticks)))
        return 0
    from tests.harness.daemon import daemon_answers

    if not daemon_answers():
        print(
            "libvirtd does not answer on qemu:///system; start it with "
            "`.venv/bin/python -m tests.harness daemon` (as root) and run again.",
            file=sys.stderr,
        )
        return 1
    from bench.nodes import measure_in_children, write_report

    results = measure_in_children(__file__, args.sizes, args.ticks, "the statistics engine")
    if isinstance(results, int):
        return results
    _print_table(results)
    write_report(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
