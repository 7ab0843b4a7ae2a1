"""Benchmark of the real app's whole statistics tick at 1,000 and 10,000 guests.

    .venv/bin/python bench/ui_bench.py [--sizes 1000 10000] [--ticks 40]

Each size runs in its own process (its peak RSS is its own). The app is built with
``make_app`` on a test-driver host of N guests served by the real libvirtd
(``test+unix:///default``, kept by the daemon while a connection to it is open:
bench/nodes.py),
headless at 160x50, with its own polling off: the benchmark runs the real
:class:`~backend.poller.StatsEngine` itself, visible-first as the app's poller does
(the shown guests every tick, a slice of the others), one tick at a time, each tick
measured whole, in one place:

1. the engine's tick on the real connection: host figures (``getInfo``,
   ``getCPUStats``; the test driver has no memory statistics) and the bulk call
   (``domainListGetStats`` for the shown guests and a slice) go to libvirtd as RPCs;
   libvirt 9.0's test driver answers the bulk call with the state group only, so each
   reply is then swapped for full-width records of the same guests (bench/nodes.py
   ``full_stats``: cpu, balloon, vcpu, one disk, one NIC, 50 fields) whose counters
   move every tick, the worst case: every shown row changes. Building those records
   in Python stands in for libvirt-python decoding a real full-width reply, and is
   counted. Wall time: waiting for the daemon is part of a tick.
2. the screen's tick handler and the repaint (CPU time of this process), with the
   frame turned into the bytes a terminal would get: headless Textual skips that
   step (``ChopsUpdate.render_segments``), a real terminal pays for it. The Pilot's
   own wait (it visits every widget, then waits for the CPU to go idle) is measured
   right after each tick with nothing to do, and subtracted.

Also measured:

- first_frame:  wall time from starting the app until its first frame with every row
  (connect, list the guests through the daemon, build the table, paint)
- open:         wall time of opening the same URI alone (as ``qemu:///system``, about
  1 ms: the daemon holds the host's guests already)
- first_tick:   the first tick, which reads every guest to learn the domains
- peak RSS:     ru_maxrss at the end, and after start-up (imports, app, rows loaded)
- reference:    a fixed pure-Python loop, timed before and after the ticks: this shared
  machine's speed drifts by up to 2x within minutes, and the reference shows how fast
  it was during the run (compare figures of two runs through it, or use the ratio
  against the per-guest baseline, measured by bench/stats_bench.py in the same
  ``make bench``).

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
TARGET_MS = {1000: 25.0, 10000: 150.0}
FIRST_FRAME_TARGET_MS = {1000: 1000.0}
RSS_TARGET_MIB = {10000: 200e6 / 2**20}  # 200 MB


def _ms(samples: list[float], q: float = 0.5) -> float:
    if not samples:
        return 0.0
    if q == 0.5:
        return round(statistics.median(samples) * 1000, 2)
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


def _rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def reference_ms(rounds: int = 5) -> float:
    """A fixed pure-Python workload (CPU time, median of ``rounds``): the machine's speed."""
    times = []
    for _ in range(rounds):
        t0 = time.process_time()
        total = 0
        for i in range(200_000):
            total += i * i % 7
        times.append(time.process_time() - t0)
    return round(statistics.median(times) * 1000, 2)


class FullWidthConn:
    """The real connection for every RPC; bulk replies swapped for full-width records.

    The engine keeps the real domain objects from the replies (their name, UUID and
    id are local: no RPC), exactly as it does on a real host.
    """

    def __init__(self, conn: Any) -> None:
        self.real = conn
        self.tick = 0

    def _full(self, records: list[tuple[Any, dict[str, Any]]]) -> list[tuple[Any, dict[str, Any]]]:
        from bench.nodes import full_stats

        t = self.tick
        out = []
        for dom, _state_only in records:
            index = int(dom.name().rpartition("-")[2])
            out.append((dom, full_stats(index, t * (1 + index % 7))))
        return out

    def getAllDomainStats(self, groups: int, flags: int) -> list[tuple[Any, dict[str, Any]]]:
        return self._full(self.real.getAllDomainStats(groups, flags))

    def domainListGetStats(
        self, doms: list[Any], groups: int, flags: int
    ) -> list[tuple[Any, dict[str, Any]]]:
        return self._full(self.real.domainListGetStats(doms, groups, flags))

    def getInfo(self) -> list[Any]:
        return self.real.getInfo()

    def getCPUStats(self, cpu: int, flags: int = 0) -> dict[str, int]:
        return self.real.getCPUStats(cpu, flags)

    def getMemoryStats(self, cell: int, flags: int = 0) -> dict[str, int]:
        return self.real.getMemoryStats(cell, flags)


def _terminal_bytes(app: Any, shown_at: list[float]) -> list[int]:
    """Make the headless app render each update as terminal bytes, as a real one does;
    returns the list the byte counts go to (``shown_at`` gets when each was done)."""
    from textual._compositor import CompositorUpdate

    written: list[int] = []
    display = app._display

    def rendering_display(screen: Any, renderable: Any) -> None:
        if isinstance(renderable, CompositorUpdate):
            written.append(len(renderable.render_segments(app.console)))
            shown_at.append(time.perf_counter())
        display(screen, renderable)

    app._display = rendering_display
    return written


async def _measure(guests: int, ticks: int) -> dict[str, Any]:
    import libvirt

    from bench.nodes import SERVED_URI, serve_guests
    from kvmtui.backend.history import HostHistory
    from kvmtui.backend.poller import FULL_EVERY, SLICE_ROUND, StatsEngine
    from kvmtui.screens.guests import GuestsScreen
    from kvmtui.tui.app import make_app

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    keeper = serve_guests(guests)  # the daemon keeps the guests while it is open
    uri = SERVED_URI
    reference_before = reference_ms()
    t0 = time.perf_counter()
    libvirt.openReadOnly(uri).close()
    open_s = time.perf_counter() - t0

    started = time.perf_counter()
    app = make_app([f"bench={uri}"], stats=False)
    app.animation_level = "none"
    shown_at: list[float] = []
    written = _terminal_bytes(app, shown_at)
    async with app.run_test(size=SIZE) as pilot:
        # Plain sleeps, not the Pilot's pause: that walks every widget each time and
        # would compete with the host's thread for the interpreter, as the app alone
        # does not; and its wait for an idle CPU would count as time to the frame.
        while not (isinstance(app.screen, GuestsScreen) and app.screen.table.row_count == guests):
            await asyncio.sleep(0.001)
        frames = len(shown_at)
        while len(shown_at) == frames:  # the first frame drawn with every row
            await asyncio.sleep(0.001)
        first_frame = shown_at[frames] - started
        await pilot.pause()
        rss_started = _rss_mib()
        screen = app.screen
        assert isinstance(screen, GuestsScreen)
        table = screen.table
        guest_list = table.guests_of("bench")

        history = HostHistory()
        conn = FullWidthConn(libvirt.openReadOnly(uri))
        # The records advance as if read 3 s apart: so does the engine's clock.
        engine = StatsEngine(
            "bench",
            history=history,
            clock=lambda: conn.tick * 3.0,
            wall_clock=lambda: 1_700_000_000.0 + conn.tick * 3.0,
        )
        phases: dict[str, dict[str, list[float]]] = {
            phase: {"whole": [], "engine": [], "ui": [], "bytes": []}
            for phase in ("by_name", "by_cpu")
        }
        first_tick: list[float] = []

        async def one(phase: str) -> None:
            conn.tick += 1
            visible = {k.rpartition("/")[2] for k in table.visible_keys()}
            w0 = time.perf_counter()
            update = engine.tick(conn, guest_list, visible=visible)  # type: ignore[arg-type]
            engine_s = time.perf_counter() - w0
            if conn.tick == 1:
                gc.freeze()  # as tui.polling.Pollers does after the first complete reading
            sent = len(written)
            c0 = time.process_time()
            screen._show_tick(update, history)
            await pilot.pause()
            ui_s = time.process_time() - c0
            c1 = time.process_time()
            await pilot.pause()  # nothing to do: the Pilot's own cost, just now
            ui_s -= time.process_time() - c1
            if conn.tick == 1:
                first_tick.append(engine_s + ui_s)
                return
            if conn.tick == 2:
                return  # the first rates: every row shows figures for the first time
            figures = phases[phase]
            figures["engine"].append(engine_s)
            figures["ui"].append(ui_s)
            figures["whole"].append(engine_s + ui_s)
            figures["bytes"].append(float(sum(written[sent:])))

        for _ in range(ticks + 2):
            await one("by_name")
        table.sort_by("cpu", descending=True)
        await pilot.pause()
        for _ in range(ticks):
            await one("by_cpu")
        visible_rows = table.size.height - 1
        last_key = table.ordered_keys()[0]
        assert table.rates(last_key) is not None and table.rates(last_key).cpu_pct is not None
        conn.real.close()
    keeper.close()
    reference_after = reference_ms()
    out: dict[str, Any] = {
        "guests": guests,
        "ticks": ticks,
        "full_every": FULL_EVERY,
        "slice_round": SLICE_ROUND,
        "terminal": f"{SIZE[0]}x{SIZE[1]}",
        "visible_rows": visible_rows,
        "open_ms": round(open_s * 1000, 1),
        "first_frame_ms": round(first_frame * 1000, 1),
        "first_frame_without_open_ms": round((first_frame - open_s) * 1000, 1),
        "first_tick_ms": round(first_tick[0] * 1000, 1),
        "reference_ms": [reference_before, reference_after],
        "peak_rss_mib_started": rss_started,
        "peak_rss_mib": _rss_mib(),
    }
    for phase, figures in phases.items():
        whole = figures["whole"]
        out[phase] = {
            "whole_ms": _ms(whole),
            "whole_p90_ms": _ms(whole, 0.9),
            "whole_max_ms": round(max(whole) * 1000, 2),
            "engine_ms": _ms(figures["engine"]),
            "ui_ms": _ms(figures["ui"]),
            "terminal_bytes": int(statistics.median(figures["bytes"])),
        }
    return out


def _print(results: list[dict[str, Any]]) -> None:
    print()
    print("The real app's whole statistics tick, headless 160x50 with terminal output, ms")
    head = (
        f"{'guests':>7} {'sort':>5} | {'whole':>6} {'p90':>6} {'max':>6} {'target':>6}"
        f" {'ratio':>6} | {'engine':>6} {'ui':>5} {'bytes':>6} | {'1st frame':>9} {'open':>5}"
        f" {'1st tick':>8} | {'RSS MiB':>7} | {'ref':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        for phase in ("by_name", "by_cpu"):
            f = r[phase]
            baseline = r.get("baseline_ms")
            ratio = f"{baseline / f['whole_ms']:.0f}x" if baseline and f["whole_ms"] else "-"
            print(
                f"{r['guests']:>7} {'name' if phase == 'by_name' else '%CPU':>5} |"
                f" {f['whole_ms']:>6.1f} {f['whole_p90_ms']:>6.1f} {f['whole_max_ms']:>6.1f}"
                f" {TARGET_MS.get(r['guests'], float('nan')):>6.0f} {ratio:>6} |"
                f" {f['engine_ms']:>6.1f} {f['ui_ms']:>5.1f} {f['terminal_bytes']:>6} |"
                f" {r['first_frame_ms']:>9.0f} {r['open_ms']:>5.0f} {r['first_tick_ms']:>8.0f} |"
                f" {r['peak_rss_mib']:>7.1f} |"
                f" {r['reference_ms'][0]:>4.0f}/{r['reference_ms'][1]:<4.0f}"
            )
    print()
    print("whole: one tick, engine (host RPCs + the bulk RPC for the shown rows and a slice,")
    print("through libvirtd, wall) + ui (handler, repaint, terminal bytes; CPU, less the")
    print("Pilot's wait), median / 90th percentile / slowest of the ticks after the first two;")
    print("sort: rows by name, or by %CPU (re-sorted at each round's end). ratio: per-guest")
    print("baseline (bench/stats_bench.py, same make bench) / whole median. bytes: sent to the")
    print("terminal per tick. 1st frame: app start to every row painted, wall (open: the URI")
    print("opened alone, as part of it). 1st tick: reads every guest. RSS: peak.")
    print("ref: reference loop before/after, ms (machine speed).")
    print()
    for line in verdicts(results):
        print(line)


def verdicts(results: list[dict[str, Any]]) -> list[str]:
    """One line per target: the figure, the target, and whether it is met."""
    lines = []
    for r in results:
        n = r["guests"]
        if n in TARGET_MS:
            for phase, label in (("by_name", "by name"), ("by_cpu", "by %CPU")):
                f = r[phase]
                met = "met" if f["whole_ms"] <= TARGET_MS[n] else "MISSED"
                lines.append(
                    f"{n:>6} guests, whole tick {label}: median {f['whole_ms']:.1f} ms, target"
                    f" {TARGET_MS[n]:.0f} ms: {met} (90th percentile {f['whole_p90_ms']:.1f},"
                    f" slowest {f['whole_max_ms']:.1f})"
                )
        if n in FIRST_FRAME_TARGET_MS:
            met = "met" if r["first_frame_ms"] <= FIRST_FRAME_TARGET_MS[n] else "MISSED"
            lines.append(
                f"{n:>6} guests, first frame {r['first_frame_ms']:.0f} ms, target"
                f" {FIRST_FRAME_TARGET_MS[n]:.0f} ms: {met}"
            )
        if n in RSS_TARGET_MIB:
            met = "met" if r["peak_rss_mib"] <= RSS_TARGET_MIB[n] else "MISSED"
            lines.append(
                f"{n:>6} guests, peak RSS {r['peak_rss_mib']:.1f} MiB, target"
                f" {RSS_TARGET_MIB[n]:.1f} MiB (200 MB): {met}"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--ticks", type=int, default=40)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(_measure(args.child, args.ticks))))
        return 0
    from bench.nodes import measure_in_children, write_report

    results = measure_in_children(__file__, args.sizes, args.ticks, "the app")
    if isinstance(results, int):
        return results
    if STATS_RESULTS.exists():
        baselines = {
            int(r["guests"]): r.get("baseline_per_guest_ms")
            for r in json.loads(STATS_RESULTS.read_text()).get("results", [])
        }
        for r in results:
            r["baseline_ms"] = baselines.get(r["guests"])
    _print(results)
    write_report(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
