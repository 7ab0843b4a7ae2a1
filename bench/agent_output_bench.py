"""Benchmark of a large program output in the agent panel's answer box: before and after.

    .venv/bin/python bench/agent_output_bench.py [--sizes 300000 730000] [--keys 6]

The output of ``seq 1 N`` (300,000 lines is 2.0 MB, 730,000 is 5.0 MB) is shown, headless
at 120x40, two ways, each in its own process (its peak RSS is its own):

- baseline: what the panel did before: the whole output as one Rich ``Text`` in a
  scrolling ``Static`` (the answer box of kvmtui up to issue 17);
- bounded:  what it does now: :func:`kvmtui.backend.clip.clip_tail` keeps the last
  10,000 lines (at most 4 MiB) and :class:`~tui.widgets.agent_output.AgentOutput` puts
  them in a Line-API view that draws only the lines on screen.

Measured for each:

- first_s:  wall time from having the output's bytes to a frame showing it (cutting
  included, the frame exported as a headless terminal would get it);
- keys_ms:  End, Home, PageDown... pressed on the focused view, each from the press to the
  next exported frame (the baseline's box had no keys: nothing scrolls, its figure is a
  frame where nothing changes; the bounded view scrolls and redraws its lines), median
  and worst, less the same for a key that changes nothing
  (the Pilot's own wait and the export), measured before the output arrived;
- rss:      the process's resident memory before the output arrived, at its peak, and
  after the keys (the memory the output keeps); tests/daemon/test_agent_output_daemon.py
  checks Python's traced memory on a real guest.

Then the ratios bounded / baseline, measured in the same run (the shared machine's speed
drifts; only ratios compare across runs). Writes bench/results/agent_output.json.
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

from rich.text import Text  # noqa: E402
from textual.app import App, ComposeResult  # noqa: E402
from textual.widget import Widget  # noqa: E402
from textual.widgets import Static  # noqa: E402

from kvmtui.backend.clip import clip_tail  # noqa: E402
from kvmtui.tui.widgets.agent_output import AgentOutput  # noqa: E402

KEYS = ("end", "home", "pagedown", "pagedown", "end", "up", "pageup", "home")
MIB = 2**20


class Baseline(Static):
    """The answer box as it was: a scrolling Static with the whole output."""

    DEFAULT_CSS = """
    Baseline { height: auto; max-height: 16; border: round $primary; padding: 0 1;
               overflow-y: auto; }
    """
    can_focus = True


class Bench(App[None]):
    def __init__(self, variant: str) -> None:
        super().__init__()
        self.variant = variant

    def compose(self) -> ComposeResult:
        yield Baseline() if self.variant == "baseline" else AgentOutput()


def rss_now() -> float:
    """The process's resident memory now, in MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / MIB


def seq_output(count: int) -> bytes:
    """``seq 1 COUNT``'s bytes, made by seq itself (no Python peak before the measure)."""
    return subprocess.run(["seq", "1", str(count)], check=True, capture_output=True).stdout


def show(app: Bench, data: bytes) -> Widget:
    if app.variant == "baseline":
        box = app.query_one(Baseline)
        box.update(Text(data.decode(errors="replace").rstrip("\n")))
        return box
    output = app.query_one(AgentOutput)
    clipped = clip_tail(data)
    output.show_lines("Run seq", Text(clipped.note or ""), clipped.lines)
    return output.log_view


async def measure(variant: str, count: int, keys: int) -> dict[str, Any]:
    data = seq_output(count)
    app = Bench(variant)
    app.animation_level = "none"
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        # The Pilot's own wait and the frame export, with a key that changes nothing.
        overhead = statistics.median(await time_keys(pilot, app, ("f12",) * 5))
        rss_before = rss_now()
        started = time.perf_counter()
        view = show(app, data)
        await pilot.pause()
        app.export_screenshot()
        first_s = time.perf_counter() - started
        view.focus()
        await pilot.pause()
        timings = await time_keys(pilot, app, KEYS[:keys])
        scrolled = view.scroll_y
        rss_after = rss_now()
    return {
        "variant": variant,
        "lines": count,
        "bytes": len(data),
        "first_s": first_s,
        "keys_ms_median": statistics.median(timings) - overhead,
        "keys_ms_max": max(timings) - overhead,
        "pilot_overhead_ms": overhead,
        "keys": list(KEYS[:keys]),
        "rss_before_mib": rss_before,
        "rss_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_mib": rss_after,
        "scroll_y_at_end": scrolled,
    }


async def time_keys(pilot: Any, app: Bench, keys: tuple[str, ...]) -> list[float]:
    """Each key from the press to the next exported frame, in ms."""
    timings = []
    for key in keys:
        started = time.perf_counter()
        await pilot.press(key)
        await pilot.pause()
        app.export_screenshot()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def run_one(variant: str, count: int, keys: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--one", variant, str(count), "--keys", str(keys)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300_000, 730_000])
    parser.add_argument("--keys", type=int, default=6)
    parser.add_argument("--one", nargs=2, metavar=("VARIANT", "LINES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        result = asyncio.run(measure(args.one[0], int(args.one[1]), args.keys))
        print(json.dumps(result))
        return
    rows = []
    print(
        f"{'lines':>8} {'MB':>5} {'variant':>9} {'first s':>8} {'key ms med':>10} "
        f"{'key ms max':>10} {'RSS before':>10} {'peak':>6} {'after':>6} MiB"
    )
    for count in args.sizes:
        pair = {}
        for variant in ("baseline", "bounded"):
            r = pair[variant] = run_one(variant, count, args.keys)
            print(
                f"{count:>8} {r['bytes'] / 1e6:>5.1f} {variant:>9} {r['first_s']:>8.2f} "
                f"{r['keys_ms_median']:>10.1f} {r['keys_ms_max']:>10.1f} "
                f"{r['rss_before_mib']:>10.0f} {r['rss_peak_mib']:>6.0f} "
                f"{r['rss_after_mib']:>6.0f}"
            )
        base, new = pair["baseline"], pair["bounded"]
        ratios = {
            key: new[key] / base[key] if base[key] else None
            for key in ("first_s", "rss_peak_mib", "rss_after_mib")
        }
        print(
            "         bounded/baseline: "
            + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items() if v is not None)
        )
        rows.append({"lines": count, "baseline": base, "bounded": new, "ratios": ratios})
    results = REPO / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "agent_output.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
