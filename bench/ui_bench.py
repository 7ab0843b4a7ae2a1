"""Benchmark of the guest list of the real app at 1,000 and 10,000 guests.

    .venv/bin/python bench/ui_bench.py [--sizes 1000 10000] [--ticks 15]

Each size runs in its own process (its peak RSS is its own). The app is built with
``make_app`` on a test-driver node served by the real libvirtd (``test+unix://``),
headless at 160x50, with its own polling off: the benchmark runs the real
:class:`~backend.poller.StatsEngine` itself, visible-first as the app's poller does
(the table's shown guests every tick, every guest every ``FULL_EVERY`` ticks), on a
stand-in connection whose replies are synthetic full-width records (bench/nodes.py
``full_stats``: cpu, balloon, vcpu, one disk, one NIC), so every row changes every
tick, the worst case. libvirt 9.0's test driver can only answer with the state group;
the RPC cost of the real calls is measured by bench/stats_bench.py. Ticks are made
one at a time, as the app makes them: nothing precomputed inflates the peak RSS.

Measured (medians; CPU time of this process unless said):

- first_frame:  wall time from starting the app until its first frame with every row
  (connect, list the guests through the daemon, build the table, paint)
- open:         wall time of opening the same test-driver URI alone: the daemon parses
  the node file of N guests on every open (a real host opens in about 1 ms)
- engine_visible / engine_full: the engine's tick without RPC (parse, rates, history)
  for a tick reading the shown guests (and a slice of the others on a big host) /
  every guest; building the synthetic reply is left out (the RPC figure has it)
- ui_visible / ui_full: the screen's tick handler and painting the changed lines,
  sorted by name; ui_full_cpu_sorted: a full tick while sorted by %CPU (re-sorts)
- idle_frame:   a refresh with nothing changed
- pilot_pause:  the Pilot's wait with nothing to do (it visits every widget and waits
  for the CPU to go idle); part of every UI figure, and subtracted for the whole tick
- peak RSS:     ru_maxrss at the end, and after start-up (imports, app, rows loaded)

Prints a table and writes bench/results/ui.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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

RESULTS = REPO / "bench" / "results" / "ui.json"
STATS_RESULTS = REPO / "bench" / "results" / "stats.json"
SIZE = (160, 50)


def _ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3) if samples else 0.0


def _rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class _Dom:
    """A stand-in domain object: what the engine reads of a libvirt domain (no RPC)."""

    __slots__ = ("_id", "_name", "_uuid", "index")

    def __init__(self, index: int) -> None:
        from bench.nodes import guest_uuid

        self.index = index
        self._uuid = guest_uuid(index)
        self._name = f"bench-{index:05d}"
        self._id = index + 1

    def UUIDString(self) -> str:  # libvirt's names
        return self._uuid

    def name(self) -> str:
        return self._name

    def ID(self) -> int:
        return self._id


class SyntheticConn:
    """Answers the two bulk calls with full-width records of a guest's ``tick``-th read."""

    def __init__(self, guests: int) -> None:
        self.doms = [_Dom(i) for i in range(guests)]
        self.tick = 0
        #: CPU seconds spent building replies: libvirt-python's C code does that for a
        #: real reply, and the RPC figure (stats_bench) counts it; the engine's doesn't.
        self.spent = 0.0

    def _records(self, doms: list[_Dom]) -> list[tuple[_Dom, dict[str, Any]]]:
        from bench.nodes import full_stats

        t0 = time.process_time()
        t = self.tick
        records = [(d, full_stats(d.index, t * (1 + d.index % 7))) for d in doms]
        self.spent += time.process_time() - t0
        return records

    def getAllDomainStats(self, _groups: int, _flags: int) -> list[tuple[_Dom, dict[str, Any]]]:
        return self._records(self.doms)

    def domainListGetStats(
        self, doms: list[_Dom], _groups: int, _flags: int
    ) -> list[tuple[_Dom, dict[str, Any]]]:
        return self._records(doms)


async def _measure(guests: int, ticks: int) -> dict[str, Any]:
    import libvirt

    from backend.history import HostHistory
    from backend.poller import FULL_EVERY, StatsEngine
    from bench.nodes import daemon_uri, node_file
    from screens.guests import GuestsScreen
    from tui.app import make_app

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    uri = daemon_uri(node_file(guests))
    t0 = time.perf_counter()
    libvirt.openReadOnly(uri).close()
    open_s = time.perf_counter() - t0

    started = time.perf_counter()
    app = make_app([f"bench={uri}"], stats=False)
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        while not (isinstance(app.screen, GuestsScreen) and app.screen.table.row_count == guests):
            await pilot.pause(0.005)
        await pilot.pause()
        first_frame = time.perf_counter() - started
        rss_started = _rss_mib()
        screen = app.screen
        assert isinstance(screen, GuestsScreen)
        table = screen.table

        history = HostHistory()
        conn = SyntheticConn(guests)
        # The records advance as if read 3 s apart: so does the engine's clock.
        engine = StatsEngine(
            "bench",
            history=history,
            with_host_figures=False,
            clock=lambda: conn.tick * 3.0,
            wall_clock=lambda: 1_700_000_000.0 + conn.tick * 3.0,
        )
        times: dict[str, list[float]] = {
            k: [] for k in ("engine_visible", "engine_full", "ui_visible", "ui_full",
                            "ui_full_cpu_sorted", "ui_visible_cpu_sorted")
        }  # fmt: skip

        whole_visible: list[tuple[float, bool]] = []

        async def one(sorted_by_cpu: bool) -> None:
            conn.tick += 1
            visible = {k.rpartition("/")[2] for k in table.visible_keys()}
            t0 = time.process_time()
            spent = conn.spent
            update = engine.tick(conn, visible=visible)  # type: ignore[arg-type]
            if conn.tick == 1:
                gc.freeze()  # as tui.polling.Pollers does after the first complete reading
            t1 = time.process_time()
            t0 += conn.spent - spent  # building the synthetic reply is the RPC's share
            screen._show_tick(update, history)
            await pilot.pause()
            t2 = time.process_time()
            kind = "full" if update.complete else "visible"
            if conn.tick > 2 or kind == "full":  # the first two have no rates yet
                times[f"engine_{kind}"].append(t1 - t0)
                times[f"ui_{kind}" + ("_cpu_sorted" if sorted_by_cpu else "")].append(t2 - t1)
            if conn.tick > 2 and kind == "visible":
                whole_visible.append((t2 - t0, sorted_by_cpu))

        async def idle() -> float:
            t0 = time.process_time()
            table.refresh()
            await pilot.pause()
            return time.process_time() - t0

        async def nothing() -> float:
            t0 = time.process_time()
            await pilot.pause()
            return time.process_time() - t0

        for _ in range(ticks):
            await one(False)
        idle_frames = [await idle() for _ in range(ticks)]
        # What the Pilot's own waiting costs (it visits every widget, then waits for the
        # CPU to go idle): counted in every figure above, not work of the app.
        pause_overhead = [await nothing() for _ in range(ticks)]
        table.sort_by("cpu", descending=True)
        await pilot.pause()
        for _ in range(ticks):
            await one(True)
        visible_rows = table.size.height - 1
        last_key = table.ordered_keys()[0]
        assert table.rates(last_key) is not None and table.rates(last_key).cpu_pct is not None
    return {
        "guests": guests,
        "ticks": ticks,
        "full_every": FULL_EVERY,
        "terminal": f"{SIZE[0]}x{SIZE[1]}",
        "visible_rows": visible_rows,
        "open_ms": round(open_s * 1000, 1),
        "first_frame_ms": round(first_frame * 1000, 1),
        "first_frame_without_open_ms": round((first_frame - open_s) * 1000, 1),
        **{f"{k}_ms": _ms(v) for k, v in times.items()},
        "idle_frame_ms": _ms(idle_frames),
        "full_ticks_after_first": len(times["engine_full"]) - 1,
        "slowest_visible_engine_ui_ms": round(max(t for t, _ in whole_visible) * 1000, 3),
        "slowest_visible_sorted_engine_ui_ms": round(
            max((t for t, s in whole_visible if s), default=0.0) * 1000, 3
        ),
        "pilot_pause_ms": _ms(pause_overhead),
        "peak_rss_mib_started": rss_started,
        "peak_rss_mib": _rss_mib(),
    }


def whole_ticks(ui: dict[str, Any], backend: dict[str, Any] | None) -> dict[str, float] | None:
    """Whole tick = host RPCs + the bulk RPC + engine + UI, for each kind of tick, and
    the mean over a cycle of FULL_EVERY ticks (one full, the rest visible)."""
    if backend is None:
        return None
    host, rpc_visible, rpc_full = (
        backend["per_tick_ms"]["host"],
        backend.get("rpc_sliced_ms", backend["rpc_visible_ms"]),
        backend["bulk_rpc_only_ms"],
    )
    pause = ui["pilot_pause_ms"]
    visible = host + rpc_visible + ui["engine_visible_ms"] + ui["ui_visible_ms"] - pause
    slowest = host + rpc_visible + ui["slowest_visible_engine_ui_ms"] - pause
    out = {"visible_tick_ms": round(visible, 1), "slowest_tick_ms": round(slowest, 1)}
    if ui["full_ticks_after_first"] > 0:  # a small host: everyone every FULL_EVERY ticks
        full = host + rpc_full + ui["engine_full_ms"] + ui["ui_full_cpu_sorted_ms"] - pause
        every = ui["full_every"]
        out["full_tick_ms"] = round(full, 1)
        out["mean_tick_ms"] = round((full + (every - 1) * visible) / every, 1)
    else:  # sliced: every tick after the first is alike (the first reads everyone)
        out["first_full_tick_ms"] = round(
            host + rpc_full + ui["engine_full_ms"] + ui["ui_full_ms"] - pause, 1
        )
        out["mean_tick_ms"] = round(visible, 1)
    return out


def _print(results: list[dict[str, Any]], backend: dict[int, dict[str, Any]]) -> None:
    print()
    print("The real app's guest list, headless 160x50, ms (CPU medians; wall for first frame)")
    head = (
        f"{'guests':>7} {'1st frame':>9} {'open':>6} {'app':>6} | {'engine vis':>10}"
        f" {'full':>7} | {'ui vis':>7} {'full':>7} {'%CPU':>7} {'idle':>6} |"
        f" {'whole vis':>9} {'worst':>7} {'mean':>7} {'target':>6} | {'RSS MiB':>7} {'start':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        target = 25.0 if r["guests"] <= 1000 else 150.0
        whole = r.get("whole") or {}
        nan = float("nan")
        print(
            f"{r['guests']:>7} {r['first_frame_ms']:>9.0f} {r['open_ms']:>6.0f}"
            f" {r['first_frame_without_open_ms']:>6.0f} | {r['engine_visible_ms']:>10.2f}"
            f" {r['engine_full_ms']:>7.1f} | {r['ui_visible_ms']:>7.2f} {r['ui_full_ms']:>7.2f}"
            f" {r['ui_full_cpu_sorted_ms']:>7.2f} {r['idle_frame_ms']:>6.2f} |"
            f" {whole.get('visible_tick_ms', nan):>9.1f} {whole.get('slowest_tick_ms', nan):>7.1f}"
            f" {whole.get('mean_tick_ms', nan):>7.1f} {target:>6.0f} |"
            f" {r['peak_rss_mib']:>7.1f} {r['peak_rss_mib_started']:>6.1f}"
        )
    print()
    print("1st frame: app start to all rows painted, through libvirtd; open: opening the same")
    print("test-driver URI alone (the daemon parses the node file; a real host opens in ~1 ms);")
    print("app: 1st frame - open. engine: StatsEngine.tick without RPC at full width, for a")
    print("tick reading the shown guests (vis) or all guests (full); ui: the screen's handler +")
    print("painting; %CPU: a full tick while sorted by %CPU. whole: host RPCs + bulk RPC")
    print("(stats_bench, same run: shown rows + a slice) + engine + ui; worst: the slowest")
    print("such tick (engine + ui measured together); mean over a cycle (sliced: every tick")
    print("alike after the first, which reads everyone). RSS: peak at the end, and once")
    print("started with every row loaded.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--ticks", type=int, default=15)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(_measure(args.child, args.ticks))))
        return 0
    from bench.nodes import measure_in_children

    results = measure_in_children(__file__, args.sizes, args.ticks, "the app")
    if isinstance(results, int):
        return results
    backend: dict[int, dict[str, Any]] = {}
    if STATS_RESULTS.exists():
        for r in json.loads(STATS_RESULTS.read_text()).get("results", []):
            backend[int(r["guests"])] = r
    for r in results:
        r["whole"] = whole_ticks(r, backend.get(r["guests"]))
    _print(results, backend)
    report = {
        "python": sys.version.split()[0],
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
