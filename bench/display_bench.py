"""Guest display benchmark: `.venv/bin/python bench/display_bench.py [--seconds N]`.

Run it under the daemon lock (`flock /tmp/kvmtui-daemon.lock ...`): it boots one tiny
guest with a VGA screen (kvmtui-bench-display, removed at the end) on qemu:///system.

1. Time per frame, 1024x768 -> 120x40 cells, each step's median over 30 rounds:
   capture (the screenshot round trip of the real guest; its VGA text console is
   720x400, the only mode the tiny guest's kernel has), decode, scale and draw (half-block
   rows and their strips) of a 1024x768 PNG made from that screenshot. Baseline: the
   capture alone, the part no client can make faster.
2. CPU of the whole kvmtui process (every thread) with the display screen open on the
   real guest, for a changing screen (the guest's serial shell floods tty1) and an
   unchanged one, as CPU seconds per minute and share of one core. Baseline: the same
   app on the same host with only the guest list open, over the same time. The default
   is 20 s per phase, not a minute (said in the output); `--seconds 60` for the full one.

Targets: at least 5 frames/s on a changing screen; under 5 % of one core unchanged.
Prints a table and writes bench/results/display.json.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import libvirt  # noqa: E402
from PIL import Image  # noqa: E402
from textual.strip import Strip  # noqa: E402
from textual_image._pixeldata import PixelData  # noqa: E402
from textual_image._terminal import get_cell_size  # noqa: E402

from kvmtui.backend.display import ScreenSource, decode, half_block_rows, scale  # noqa: E402
from kvmtui.backend.host import Host  # noqa: E402
from kvmtui.screens.display import DisplayScreen  # noqa: E402
from kvmtui.tui.app import make_app  # noqa: E402
from kvmtui.tui.widgets.screen_image import row_segments  # noqa: E402
from kvmtui.tui.widgets.screen_picture import fit_pixels  # noqa: E402
from tests.harness.guests import (  # noqa: E402
    define_guest,
    destroy_and_undefine,
    quiet_libvirt_errors,
    wait_for_agent,
)
from tests.harness.image import build_image  # noqa: E402
from tests.harness.serial import SerialConsole  # noqa: E402

URI = "qemu:///system"
GUEST = "kvmtui-bench-display"
SIZE = (1024, 768)
CELLS = (120, 40)
ROUNDS = 30
TARGET_FPS = 5.0
TARGET_IDLE_CORE_PCT = 5.0
RESULTS = ROOT / "bench" / "results" / "display.json"
FLOOD = b"while true; do echo $RANDOM$RANDOM$RANDOM > /dev/tty1; done\r"


def median_s(step: Callable[[], object], rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def frame_steps(host: Host, uuid: str) -> dict[str, float]:
    source = ScreenSource(host, uuid)
    capture = median_s(lambda: source.grab())
    data, _mime, _seconds = source.grab()
    big = decode(data).resize(SIZE, Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    big.save(buffer, format="PNG")
    png = buffer.getvalue()
    decoded = decode(png)
    scaled = scale(decoded, *CELLS)

    def draw() -> None:
        strips = [Strip(row_segments(row)) for row in half_block_rows(scaled)]
        for strip in strips:
            strip.extend_cell_length(CELLS[0])

    # --graphics kitty: kvmtui scales to the pane's pixels, textual-image encodes a PNG
    # in base64 (the bytes that travel to the terminal per new frame).
    cell = get_cell_size()
    fitted = fit_pixels(decoded.size, CELLS, (cell.width, cell.height))
    sent: list[int] = []

    def picture() -> None:
        scaled_picture = decoded.resize(fitted, Image.Resampling.BILINEAR)
        sent.append(len(PixelData(scaled_picture).scaled(*fitted).to_base64()))

    return {
        "capture_s": capture,
        "decode_s": median_s(lambda: decode(png)),
        "scale_s": median_s(lambda: scale(decoded, *CELLS)),
        "draw_s": median_s(draw),
        "picture_s": median_s(picture),
        "picture_bytes": float(sent[-1]),
        "png_bytes": float(len(png)),
    }


async def app_cpu(uuid: str, seconds: float, *, open_display: bool) -> dict[str, float]:
    """CPU seconds of this process over SECONDS with the app up (display open or not)."""
    app = make_app([URI], stats=False)
    app.animation_level = "none"
    async with app.run_test(size=CELLS) as pilot:
        host = app.hosts[0]
        deadline = time.monotonic() + 30
        while host.guest(uuid) is None and time.monotonic() < deadline:
            await pilot.pause(0.1)
        screen = None
        if open_display:
            screen = DisplayScreen(host, uuid)
            app.push_screen(screen)
            while screen.frame is None and time.monotonic() < deadline:
                await pilot.pause(0.1)
            await pilot.pause(5.0)  # settle: the unchanged screen reaches its slowest refresh
        calls = screen.source.calls if screen else 0
        cpu, wall = time.process_time(), time.monotonic()
        await pilot.pause(seconds)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        frames = (screen.source.calls - calls) if screen else 0
    return {"cpu_s": cpu, "wall_s": wall, "screenshots": float(frames)}


def per_minute(sample: dict[str, float]) -> float:
    return sample["cpu_s"] / sample["wall_s"] * 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    quiet_libvirt_errors()
    conn = libvirt.open(URI)
    for dom in conn.listAllDomains(0):
        if dom.name() == GUEST:
            destroy_and_undefine(dom)
    dom = define_guest(conn, GUEST, build_image(), display=True)
    try:
        wait_for_agent(dom, 90)
        uuid = dom.UUIDString()
        host = Host(URI)
        host.start()
        host.wait_connected(30)
        try:
            steps = frame_steps(host, uuid)
        finally:
            host.stop()
        baseline = asyncio.run(app_cpu(uuid, args.seconds, open_display=False))
        unchanged = asyncio.run(app_cpu(uuid, args.seconds, open_display=True))
        with SerialConsole(dom) as serial:
            serial.send(FLOOD)
            try:
                changing = asyncio.run(app_cpu(uuid, args.seconds, open_display=True))
            finally:
                serial.send(b"\x03\r")
    finally:
        destroy_and_undefine(dom)
        conn.close()

    total = steps["capture_s"] + steps["decode_s"] + steps["scale_s"] + steps["draw_s"]
    fps = 1 / total
    idle_pct = unchanged["cpu_s"] / unchanged["wall_s"] * 100
    print(f"Time per frame, {SIZE[0]}x{SIZE[1]} -> {CELLS[0]}x{CELLS[1]} cells (median of "
          f"{ROUNDS}; capture of the real 720x400 console):")
    for name in ("capture", "decode", "scale", "draw"):
        value = steps[f"{name}_s"]
        print(f"  {name:8} {value * 1000:8.2f} ms   x{value / steps['capture_s']:.2f} of capture")
    print(f"  total    {total * 1000:8.2f} ms   x{total / steps['capture_s']:.2f} of capture"
          f"  -> {fps:.1f} frames/s (target >= {TARGET_FPS:.0f}): "
          f"{'OK' if fps >= TARGET_FPS else 'MISSED'}")
    print(f"CPU of the kvmtui process over {args.seconds:.0f} s per phase "
          f"({'a full minute' if args.seconds >= 60 else 'shorter than a minute'}), "
          "as CPU seconds per minute:")
    for label, sample in (
        ("guest list only (baseline)", baseline),
        ("display, unchanged", unchanged),
        ("display, changing", changing),
    ):
        ratio = per_minute(sample) / max(per_minute(baseline), 1e-9)
        rate = sample["screenshots"] / sample["wall_s"]
        print(f"  {label:28} {per_minute(sample):6.2f} s/min  "
              f"{sample['cpu_s'] / sample['wall_s'] * 100:5.1f} % of a core  "
              f"x{ratio:.2f} of baseline  {rate:.2f} screenshots/s")
    print(f"  unchanged: {idle_pct:.1f} % of a core (target < {TARGET_IDLE_CORE_PCT:.0f} %): "
          f"{'OK' if idle_pct < TARGET_IDLE_CORE_PCT else 'MISSED'}")
    with_picture = steps["capture_s"] + steps["decode_s"] + steps["picture_s"]
    print(f"  kitty picture instead of half-blocks (scale to {CELLS[0]}x{CELLS[1]} cells of "
          f"10x20 px, PNG, base64): {steps['picture_s'] * 1000:.2f} ms, "
          f"x{steps['picture_s'] / (steps['scale_s'] + steps['draw_s']):.2f} of scale+draw; "
          f"{steps['picture_bytes'] / 1024:.0f} KiB to the terminal per new frame; total "
          f"{with_picture * 1000:.2f} ms -> {1 / with_picture:.1f} frames/s "
          f"(target >= {TARGET_FPS:.0f}): {'OK' if 1 / with_picture >= TARGET_FPS else 'MISSED'}")
    changing_fps = changing["screenshots"] / changing["wall_s"]
    print(f"  changing: {changing_fps:.1f} screenshots/s in the app")

    results = {
        "python": platform.python_version(),
        "libvirt": libvirt.getVersion(),
        "seconds_per_phase": args.seconds,
        "frame": steps,
        "frames_per_s": fps,
        "cpu": {"baseline": baseline, "unchanged": unchanged, "changing": changing},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
