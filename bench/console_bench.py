"""Console throughput benchmark: `.venv/bin/python bench/console_bench.py [--quick]`.

Feeds two generated console streams (a dmesg-like coloured scroll and a top-like
full-screen redraw, both deterministic) through:

1. the parser alone: our TermScreen (scrollback on) against stock ``pyte.HistoryScreen``
   and plain ``pyte.Screen``, same 4 KiB chunks, same run (the ratio is what counts:
   these machines are noisy);
2. the Terminal widget in a headless Textual app, fed from a thread as fast as flow
   control lets it: sustained MB/s, frames painted and the cost of a painted frame;
3. key-to-echo while the guest floods: a fake guest echoes each key after the flood
   output it already queued; the delay runs from the key press until the echo is parsed
   and painted.

Prints a table and writes bench/results/console.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyte  # noqa: E402
import textual  # noqa: E402
from textual import events  # noqa: E402
from textual.app import App, ComposeResult  # noqa: E402

from kvmtui.tui.widgets.term_screen import TermScreen, TermStream  # noqa: E402
from kvmtui.tui.widgets.terminal import Terminal  # noqa: E402

COLUMNS, LINES = 80, 24
CHUNK = 4096
SCROLLBACK = 5000
RESULTS = ROOT / "bench" / "results" / "console.json"
TARGET_RATIO = 4.0
TARGET_ECHO_MS = 100.0
DEBUG = False

# -- generated streams ----------------------------------------------------------------

_SUBSYSTEMS = ["usb", "pci", "virtio_net", "EXT4-fs", "systemd[1]", "audit", "kvm", "nvme"]
_WORDS = [
    "device",
    "registered",
    "link",
    "up",
    "reset",
    "controller",
    "queue",
    "timeout",
    "mounted",
    "filesystem",
    "with",
    "ordered",
    "data",
    "mode",
    "started",
    "stopped",
    "session",
    "interface",
    "ready",
    "carrier",
]


def dmesg_stream(size: int, seed: int = 4) -> bytes:
    """Timestamped kernel-log lines with coloured tags, as `dmesg --color=always` prints."""
    rng = random.Random(seed)
    out: list[bytes] = []
    total, t = 0, 0.0
    while total < size:
        t += rng.random() * 0.05
        colour = rng.choice(["32", "33", "31;1", "36", "35"])
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 12)))
        line = (
            f"\x1b[32m[{t:12.6f}]\x1b[0m \x1b[{colour}m{rng.choice(_SUBSYSTEMS)}\x1b[0m: "
            f"{words}\r\n"
        ).encode()
        out.append(line)
        total += len(line)
    return b"".join(out)


def top_stream(size: int, seed: int = 7) -> bytes:
    """Full-screen redraws like top: home, header, reverse table header, rows, erase."""
    rng = random.Random(seed)
    frames: list[bytes] = [b"\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J"]
    total = 0
    tick = 0
    while total < size:
        tick += 1
        rows = [
            f"top - 10:{tick // 60 % 60:02d}:{tick % 60:02d} up 3 days,  2 users,  "
            f"load average: {rng.random():.2f}, {rng.random():.2f}, {rng.random():.2f}",
            f"Tasks: {rng.randint(90, 120)} total,   1 running, sleeping,   0 stopped",
            f"%Cpu(s): {rng.random() * 9:4.1f} us,  {rng.random() * 3:4.1f} sy,  0.0 ni",
            "MiB Mem :   1987.5 total,    912.3 free,    402.1 used,    673.1 buff/cache",
            "",
        ]
        body = []
        for y, row in enumerate(rows):
            body.append(f"\x1b[{y + 1};1H\x1b[1m{row}\x1b[0m\x1b[K")
        body.append(
            f"\x1b[6;1H\x1b[7m{'  PID USER      PR  NI    VIRT    RES  %CPU  %MEM COMMAND':<80}"
            "\x1b[27m"
        )
        for y in range(7, LINES + 1):
            pid = rng.randint(1, 30000)
            cpu = rng.random() * 20
            colour = "\x1b[1;31m" if cpu > 15 else ""
            body.append(
                f"\x1b[{y};1H{colour}{pid:5d} root      20   0 {rng.randint(1000, 900000):7d} "
                f"{rng.randint(100, 90000):6d} {cpu:5.1f} {rng.random() * 5:5.1f} "
                f"{rng.choice(['kworker/0:1', 'qemu-ga', 'sshd', 'bash', 'top'])}"
                f"\x1b[0m\x1b[K"
            )
        frame = "".join(body).encode()
        frames.append(frame)
        total += len(frame)
    return b"".join(frames)


# -- 1: the parser alone -----------------------------------------------------------------


def parse_rate(
    make_screen: Callable[[], Any],
    data: bytes,
    repeat: int,
    make_stream: Callable[[Any], Any] = pyte.ByteStream,
) -> float:
    """Best-of-REPEAT MB/s feeding DATA in CHUNK slices."""
    best = float("inf")
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    for _ in range(repeat):
        screen = make_screen()
        stream = make_stream(screen)
        started = time.perf_counter()
        for chunk in chunks:
            stream.feed(chunk)
        best = min(best, time.perf_counter() - started)
    return len(data) / best / 1e6


# -- 2 and 3: the widget in a headless app ---------------------------------------------


class BenchApp(App[None]):
    CSS = "Screen { overflow: hidden; } Terminal { width: 80; height: 24; }"

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []

    def compose(self) -> ComposeResult:
        yield Terminal(on_output=self.sent.append, scrollback=SCROLLBACK)


class FloodingGuest:
    """Feeds a stream into the widget from a thread as fast as flow control allows."""

    def __init__(self, terminal: Terminal, data: bytes, *, loop_forever: bool) -> None:
        self.terminal = terminal
        self.data = data
        self.loop_forever = loop_forever
        self.resume = threading.Event()
        self.resume.set()
        self.stop = threading.Event()
        self.echo: list[bytes] = []
        self.echo_lock = threading.Lock()
        self.fed = 0
        terminal.on_flow = self.flow
        self.thread = threading.Thread(target=self.run, daemon=True)

    def flow(self, paused: bool) -> None:
        if paused:
            self.resume.clear()
        else:
            self.resume.set()

    def run(self) -> None:
        data, pos = self.data, 0
        while not self.stop.is_set():
            if pos >= len(data):
                if not self.loop_forever:
                    return
                pos = 0
            self.resume.wait(0.05)
            if not self.resume.is_set():
                continue
            with self.echo_lock:
                echo, self.echo = b"".join(self.echo), []
            # Writes end at line ends, as a tty's do: the echo never splits a sequence.
            end = data.rfind(b"\n", pos, pos + CHUNK) + 1 or pos + CHUNK
            chunk = echo + data[pos:end]
            pos = end
            self.fed += len(chunk)
            self.terminal.feed(chunk)


async def widget_run(data: bytes) -> dict[str, float]:
    app = BenchApp()
    async with app.run_test(size=(COLUMNS, LINES)) as pilot:
        terminal = app.query_one(Terminal)
        terminal.focus()
        await pilot.pause()
        render_time = [0.0]
        rows_rendered = [0]
        original = terminal.render_line

        def timed_render_line(y: int) -> Any:
            started = time.perf_counter()
            strip = original(y)
            render_time[0] += time.perf_counter() - started
            rows_rendered[0] += 1
            return strip

        terminal.render_line = timed_render_line  # type: ignore[method-assign]
        guest = FloodingGuest(terminal, data, loop_forever=False)
        frames_before = terminal.frames_painted
        started = time.perf_counter()
        guest.thread.start()
        while terminal.bytes_parsed < len(data):
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
        await pilot.pause(0.05)
        frames = terminal.frames_painted - frames_before
        # A full frame: every row dirty, rendered again.
        full = []
        for _ in range(30):
            terminal._strip_cache.clear()
            t0 = time.perf_counter()
            for y in range(LINES):
                original(y)
            full.append(time.perf_counter() - t0)
        guest.stop.set()
    return {
        "mb_per_s": len(data) / elapsed / 1e6,
        "seconds": elapsed,
        "frames_painted": frames,
        "frames_per_s": frames / elapsed,
        "render_ms_per_painted_frame": render_time[0] * 1000 / max(frames, 1),
        "rows_rendered": rows_rendered[0],
        "full_frame_render_ms": statistics.median(full) * 1000,
    }


async def echo_run(data: bytes, presses: int) -> dict[str, float]:
    """Key-to-echo delay while the guest floods (dmesg stream, looped)."""
    app = BenchApp()
    delays: list[float] = []
    async with app.run_test(size=(COLUMNS, LINES)) as pilot:
        terminal = app.query_one(Terminal)
        terminal.focus()
        guest = FloodingGuest(terminal, data, loop_forever=True)

        key_seen: list[float] = []

        def echo_key(sent: bytes) -> None:
            key_seen.append(time.perf_counter())
            # The tty echoes after the flood output already queued in the guest.
            marker = sent.decode(errors="replace")
            with guest.echo_lock:
                guest.echo.append(f"\x1b]2;echo-{marker}\x07{marker}".encode())

        terminal.on_output = echo_key
        guest.thread.start()
        await pilot.pause(0.3)  # flood running, backlog at its high-water mark
        screen = terminal.screen_state
        parsed_at: dict[str, float] = {}
        set_title = screen.set_title

        def record_title(param: str) -> None:  # the echo's marker, seen by the parser
            parsed_at.setdefault(param, time.perf_counter())
            set_title(param)

        screen.set_title = record_title  # type: ignore[method-assign]
        for n in range(presses):
            key = "abcdefghijklmnopqrstuvwxyz"[n % 26]
            marker = f"echo-{key}"
            parsed_at.pop(marker, None)
            started = time.perf_counter()
            # Posted like a driver would (pilot.press waits for an idle app, which a
            # flooded console never is).
            app.post_message(events.Key(key, key))
            while marker not in parsed_at or terminal.last_frame_at < parsed_at[marker]:
                if time.perf_counter() - started > 10:
                    raise RuntimeError(f"no echo of {key!r} within 10 s")
                await asyncio.sleep(0.01)
            delays.append(terminal.last_frame_at - started)
            if DEBUG:
                print(
                    f"key {key_seen[-1] - started:.3f} parsed {parsed_at[marker] - started:.3f} "
                    f"painted {delays[-1]:.3f}"
                )
            await asyncio.sleep(0.05)
        guest.stop.set()
        fed = guest.fed
    delays.sort()
    return {
        "presses": presses,
        "median_ms": statistics.median(delays) * 1000,
        "p90_ms": delays[int(len(delays) * 0.9) - 1] * 1000,
        "max_ms": delays[-1] * 1000,
        "flood_bytes_fed": fed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller streams, fewer runs")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    size = 300_000 if args.quick else 2_000_000
    repeat = 2 if args.quick else 3
    streams = {"dmesg": dmesg_stream(size), "top": top_stream(size)}

    results: dict[str, Any] = {
        "python": platform.python_version(),
        "textual": textual.__version__,
        "pyte": "0.8.2",
        "screen": f"{COLUMNS}x{LINES}",
        "chunk": CHUNK,
        "scrollback": SCROLLBACK,
        "streams": {},
    }
    print(f"console bench: {COLUMNS}x{LINES}, {CHUNK} B chunks, scrollback {SCROLLBACK}")
    print(f"{'stream':8} {'MB':>5} {'ours':>8} {'History':>8} {'Screen':>8} {'ratio':>6}"
          f" {'widget':>8} {'w.ratio':>7} {'frames/s':>8} {'ms/frame':>8}")  # fmt: skip
    ok = True
    for label, data in streams.items():
        ours = parse_rate(lambda: TermScreen(COLUMNS, LINES, SCROLLBACK), data, repeat, TermStream)
        history = parse_rate(  # slow: one run is enough for a baseline
            lambda: pyte.HistoryScreen(COLUMNS, LINES, history=SCROLLBACK), data, 1
        )
        plain = parse_rate(lambda: pyte.Screen(COLUMNS, LINES), data, repeat)
        widget = asyncio.run(widget_run(data))
        widget_ratio = widget["mb_per_s"] / history
        entry = {
            "bytes": len(data),
            "parser_mb_per_s": ours,
            "history_screen_mb_per_s": history,
            "plain_screen_mb_per_s": plain,
            "parser_ratio_vs_history": ours / history,
            "widget": widget,
            "widget_ratio_vs_history": widget_ratio,
        }
        results["streams"][label] = entry
        ok &= widget_ratio >= TARGET_RATIO
        print(
            f"{label:8} {len(data) / 1e6:5.1f} {ours:8.2f} {history:8.2f} {plain:8.2f} "
            f"{ours / history:5.1f}x {widget['mb_per_s']:8.2f} "
            f"{widget_ratio:6.1f}x {widget['frames_per_s']:8.1f} "
            f"{widget['render_ms_per_painted_frame']:8.2f}"
        )
    echo = asyncio.run(echo_run(streams["dmesg"], presses=10 if args.quick else 30))
    results["key_to_echo_during_flood"] = echo
    ok &= echo["p90_ms"] < TARGET_ECHO_MS
    print(
        f"key-to-echo during flood: median {echo['median_ms']:.1f} ms, "
        f"p90 {echo['p90_ms']:.1f} ms, max {echo['max_ms']:.1f} ms "
        f"({echo['presses']} presses)"
    )
    print(
        "(MB/s: parser alone and through the widget in a headless app; ratio against "
        "pyte.HistoryScreen in this run; ms/frame: render_line time per painted frame)"
    )
    results["targets"] = {
        "widget_ratio_vs_history": TARGET_RATIO,
        "key_to_echo_p90_ms": TARGET_ECHO_MS,
        "met": ok,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"targets {'met' if ok else 'NOT met'}; wrote {args.output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
