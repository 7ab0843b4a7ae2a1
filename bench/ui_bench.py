"""Benchmark of the guest list of the real app at 1,000 and 10,000 guests.

    .venv/bin/python bench/ui_bench.py [--sizes 1000 10000] [--ticks 10]

Each size runs in its own process (its peak RSS is its own). The app is built with
``make_app`` on a test-driver node served by the real libvirtd (``test+unix://``),
headless at 160x50, with polling off: the benchmark feeds it ticks itself. Ticks are
built from synthetic full-width records (bench/nodes.py ``full_stats``: cpu, balloon,
one disk, one NIC) through the real rate and history code, so every row changes every
tick, the worst case. Measured, as medians of CPU time:

- first_frame: from starting the app until its first frame with every row loaded
  (connect, list the guests through the daemon, build the table, paint); wall time
- ui_tick:     handling one tick (the screen's handler: table + summary line) and
  painting the changed lines, sorted by name (the order does not change)
- ui_tick_cpu_sorted: the same while sorted by %CPU (every tick re-sorts)
- idle_frame:  a refresh with nothing changed (what ui_tick is compared with)

The backend's share of a tick (bulk call, rates, history) is bench/stats_bench.py's;
the whole tick is the sum, printed when bench/results/stats.json exists.

Prints a table and writes bench/results/ui.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RESULTS = REPO / "bench" / "results" / "ui.json"
STATS_RESULTS = REPO / "bench" / "results" / "stats.json"
SIZE = (160, 50)


def _ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def _ticks(guests: int, count: int) -> list[Any]:
    """``count`` StatsUpdated of every guest, each guest busy, plus their history."""
    from backend.history import HostHistory
    from backend.poller import StatsUpdated
    from backend.stats import Sample, compute_rates, parse_counters
    from bench.nodes import full_stats, guest_uuid

    history = HostHistory()
    updates = []
    previous = None
    for tick in range(count + 1):
        sample = Sample.of(
            "bench",
            float(tick * 3),
            1_700_000_000.0 + tick * 3,
            [
                parse_counters(
                    guest_uuid(i), f"bench-{i:05d}", i + 1, full_stats(i, tick * (1 + i % 7))
                )
                for i in range(guests)
            ],
        )
        rates = compute_rates(previous, sample, 64)
        number = history.append(sample.wall, rates, None)
        updates.append(
            StatsUpdated("bench", number, sample.wall, sample.monotonic,
                         3.0 if previous else None, rates, None, 0.0, sample, previous)
        )  # fmt: skip
        previous = sample
    return [history, updates]


async def _measure(guests: int, ticks: int) -> dict[str, Any]:
    import libvirt

    from bench.nodes import daemon_uri, node_file
    from screens.guests import GuestsScreen
    from tui.app import make_app

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    uri = daemon_uri(node_file(guests))
    history, updates = _ticks(guests, ticks + 2)

    started = time.perf_counter()
    app = make_app([f"bench={uri}"], stats=False)
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        while not (isinstance(app.screen, GuestsScreen) and app.screen.table.row_count == guests):
            await pilot.pause(0.005)
        await pilot.pause()
        first_frame = time.perf_counter() - started
        screen = app.screen
        assert isinstance(screen, GuestsScreen)
        table = screen.table

        async def one(update: Any) -> float:
            t0 = time.process_time()
            screen._show_tick(update, history)
            await pilot.pause()
            return time.process_time() - t0

        async def idle() -> float:
            t0 = time.process_time()
            table.refresh()
            await pilot.pause()
            return time.process_time() - t0

        await one(updates[0])
        by_name = [await one(u) for u in updates[1 : ticks + 1]]
        idle_frames = [await idle() for _ in range(ticks)]
        table.sort_by("cpu", descending=True)
        await pilot.pause()
        by_cpu = [await one(u) for u in updates[1 : ticks + 1]]
        visible_rows = table.size.height - 1
        assert table.rates(f"bench/{updates[-1].guests[0].uuid}") is not None
    return {
        "guests": guests,
        "ticks": ticks,
        "terminal": f"{SIZE[0]}x{SIZE[1]}",
        "visible_rows": visible_rows,
        "first_frame_ms": round(first_frame * 1000, 1),
        "ui_tick_ms": _ms(by_name),
        "ui_tick_cpu_sorted_ms": _ms(by_cpu),
        "idle_frame_ms": _ms(idle_frames),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _print(results: list[dict[str, Any]], backend: dict[int, float]) -> None:
    print()
    print("Guest list of the real app, per tick, CPU ms (medians), headless 160x50")
    head = (
        f"{'guests':>7} {'first frame':>11} {'ui tick':>8} {'sorted %CPU':>11} {'idle':>6}"
        f" {'backend':>8} {'whole tick':>10} {'target':>7} {'RSS MiB':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        target = 25.0 if r["guests"] <= 1000 else 150.0
        back = backend.get(r["guests"])
        whole = back + r["ui_tick_cpu_sorted_ms"] if back is not None else None
        print(
            f"{r['guests']:>7} {r['first_frame_ms']:>9.0f}ms {r['ui_tick_ms']:>8.2f}"
            f" {r['ui_tick_cpu_sorted_ms']:>11.2f} {r['idle_frame_ms']:>6.2f}"
            f" {back if back is not None else float('nan'):>8.1f}"
            f" {whole if whole is not None else float('nan'):>10.1f} {target:>7.0f}"
            f" {r['peak_rss_mib']:>8.1f}"
        )
    print()
    print("first frame: wall time from starting the app to all rows painted (through libvirtd);")
    print("ui tick: the screen's tick handler + painting the changed visible lines;")
    print("backend: bench/stats_bench.py's full-width tick (bulk call, parse, rates, history);")
    print("whole tick: backend + ui tick sorted by %CPU (the costlier order).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--ticks", type=int, default=10)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(_measure(args.child, args.ticks))))
        return 0
    results = []
    for size in args.sizes:
        print(f"measuring the app with {size} guests ...", flush=True)
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(size), "--ticks", str(args.ticks)],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=False,
        )
        if child.returncode != 0:
            print(child.stderr, file=sys.stderr)
            return child.returncode
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
    backend: dict[int, float] = {}
    if STATS_RESULTS.exists():
        for r in json.loads(STATS_RESULTS.read_text()).get("results", []):
            backend[int(r["guests"])] = float(r["full_width_tick_ms"])
    _print(results, backend)
    report = {
        "python": sys.version.split()[0],
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": results,
        "backend_full_width_tick_ms": backend,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
