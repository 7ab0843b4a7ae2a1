"""Start-up from a real process launch: ``kvmtui`` against ``virsh list --all``.

    .venv/bin/python bench/startup_bench.py [--sizes 1000 10000] [--runs 7]

For each size, libvirtd's shared test host (``test+unix:///default``, bench/nodes.py:
the daemon keeps its guests while one connection is open, no node file is parsed on
open) is made to hold that many guests. Then, runs interleaved, in one pseudo-terminal
of 120x40 each:

- ``kvmtui -c test+unix:///default`` (the console script of this checkout's venv) is
  launched, and the clock runs from just before the launch until the first guest's
  name (``bench-00000``, the first row by name) appears in what the program writes to
  the terminal. The bytes are read as a terminal gets them: escape sequences are
  dropped and the name is looked for in the text left. The app is then told to quit
  (``q``) and given 5 s before it is killed. Its bytecode is compiled (written by a
  first run that is not counted), as an installed kvmtui's is.
- ``virsh -c test+unix:///default list --all`` (libvirt-clients), the same way: launch
  to the same name in its output.

Medians and 90th percentiles of the runs, the ratio kvmtui/virsh and the difference,
measured in the same run. ``--before PATH`` adds another ``kvmtui`` console script
(an older checkout's venv) to the same interleaved runs, with the ratio before/now.
Verdicts against the targets: launch to the first painted name at most 0.6 s at 1,000
guests and 2 s at 10,000, and below ``virsh list --all`` plus 0.3 s. Writes
bench/results/startup.json.

The daemon is shared: hold ``/tmp/kvmtui-daemon.lock`` (flock) while this runs next
to other users of it.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RESULTS = REPO / "bench" / "results" / "startup.json"
COLUMNS, LINES = 120, 40
TARGET_MS = {1000: 600.0, 10000: 2000.0}
#: kvmtui's first name may come at most this much later than virsh's.
VIRSH_MARGIN_MS = 300.0
#: Seconds one launch may take to show the name before the run counts as failed.
TIMEOUT_S = 60.0
# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), DCS/APC/PM/SOS strings, and
# two-byte escapes: what a terminal interprets rather than prints.
_ESCAPES = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]"
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    rb"|\x1b[PX^_][^\x1b]*\x1b\\"
    rb"|\x1b[@-Z\\-_]"
    rb"|\x1b[()][0-9A-Za-z]"
)


def printed_text(data: bytes) -> bytes:
    """What a terminal shows of ``data``: the bytes without escape sequences."""
    return _ESCAPES.sub(b"", data)


def _ms(samples: list[float], q: float = 0.5) -> float:
    if q == 0.5:
        return round(statistics.median(samples) * 1000, 1)
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


def _spawn(argv: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``argv`` on a new pseudo-terminal of COLUMNS x LINES; (process, master fd)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    # Bytecode is written (the first, uncounted run does it) and read as an installed
    # kvmtui's is: compiling the sources again at each launch would cost ~80 ms.
    drop = ("COLUMNS", "LINES", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["TERM"] = "xterm-256color"

    def controlling_tty() -> None:  # runs in the child after setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
        preexec_fn=controlling_tty,  # this process runs no threads
        close_fds=True,
    )
    os.close(slave)
    return proc, master


def _drain(master: int, seconds: float) -> bytes:
    """Read what the program writes for up to ``seconds`` (until it closes the tty)."""
    out = bytearray()
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([master], [], [], left)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        out += chunk
    return bytes(out)


def time_to_text(argv: list[str], needle: str, *, quit_keys: bytes = b"") -> float:
    """Seconds from launching ``argv`` in a pseudo-terminal until ``needle`` is shown."""
    want = needle.encode()
    started = time.perf_counter()
    proc, master = _spawn(argv)
    seen = bytearray()
    shown_at: float | None = None
    try:
        deadline = started + TIMEOUT_S
        while shown_at is None:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"{argv[0]} did not show {needle} in {TIMEOUT_S:.0f} s")
            ready, _, _ = select.select([master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                tail = printed_text(bytes(seen))[-2000:].decode(errors="replace")
                raise RuntimeError(f"{argv[0]} ended without showing {needle}:\n{tail}")
            now = time.perf_counter()
            seen += chunk
            # The name may straddle two reads: look at the tail that could hold it.
            if want in printed_text(bytes(seen[-(len(chunk) + 4096) :])):
                shown_at = now
    finally:
        _stop(proc, master, quit_keys)
    return shown_at - started


def _stop(proc: subprocess.Popen[bytes], master: int, quit_keys: bytes) -> None:
    try:
        if quit_keys and proc.poll() is None:
            os.write(master, quit_keys)
        end = time.monotonic() + 5.0
        while proc.poll() is None and time.monotonic() < end:
            _drain(master, 0.1)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        os.close(master)


def kvmtui_argv(uri: str, script: Path | None = None) -> list[str]:
    script = script or Path(sys.executable).parent / "kvmtui"
    if not script.exists():
        raise SystemExit(f"{script} is missing: run make venv first")
    return [str(script), "-c", uri]


def virsh_argv(uri: str) -> list[str]:
    virsh = shutil.which("virsh")
    if virsh is None:
        raise SystemExit("virsh is missing: apt-get install libvirt-clients (make deps does)")
    return [virsh, "-c", uri, "list", "--all"]


def _check_served(keeper: Any, guests: int) -> None:
    """The daemon still holds the guests (a restarted libvirtd drops its test host)."""
    import libvirt

    try:
        count = keeper.numOfDomains()
    except libvirt.libvirtError as exc:
        count = exc
    if count != guests:
        raise SystemExit(
            f"libvirtd's test host no longer holds the {guests} guests ({count}): was the"
            " daemon restarted? Hold /tmp/kvmtui-daemon.lock while benchmarking."
        )


def measure(guests: int, runs: int, before: Path | None = None) -> dict[str, Any]:
    import libvirt

    from bench.nodes import SERVED_URI, guest_name, serve_guests
    from bench.ui_bench import reference_ms

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    keeper = serve_guests(guests)  # the daemon keeps the guests while it is open
    try:
        needle = guest_name(0)
        kvmtui, virsh = kvmtui_argv(SERVED_URI), virsh_argv(SERVED_URI)
        older = kvmtui_argv(SERVED_URI, before) if before is not None else None
        for argv in (kvmtui, older):  # warm the page cache and the bytecode, not counted
            if argv is not None:
                time_to_text(argv, needle, quit_keys=b"q")
        time_to_text(virsh, needle)
        reference_before = reference_ms()
        app_s: list[float] = []
        virsh_s: list[float] = []
        before_s: list[float] = []
        for _ in range(runs):  # interleaved: drift of the machine hits all alike
            _check_served(keeper, guests)
            app_s.append(time_to_text(kvmtui, needle, quit_keys=b"q"))
            virsh_s.append(time_to_text(virsh, needle))
            if older is not None:
                before_s.append(time_to_text(older, needle, quit_keys=b"q"))
        reference_after = reference_ms()
    finally:
        keeper.close()
    return {
        "guests": guests,
        "runs": runs,
        "terminal": f"{COLUMNS}x{LINES}",
        "kvmtui_ms": _ms(app_s),
        "kvmtui_p90_ms": _ms(app_s, 0.9),
        "virsh_ms": _ms(virsh_s),
        "virsh_p90_ms": _ms(virsh_s, 0.9),
        "kvmtui_all_ms": [round(s * 1000, 1) for s in app_s],
        "virsh_all_ms": [round(s * 1000, 1) for s in virsh_s],
        "reference_ms": [reference_before, reference_after],
        **(
            {"before": str(before), "before_ms": _ms(before_s), "before_p90_ms": _ms(before_s, 0.9)}
            if before_s
            else {}
        ),
    }


def verdicts(results: list[dict[str, Any]]) -> list[str]:
    """One line per target: the figure, the target, and whether it is met."""
    lines = []
    for r in results:
        n, app, virsh = r["guests"], r["kvmtui_ms"], r["virsh_ms"]
        if n in TARGET_MS:
            met = "met" if app <= TARGET_MS[n] else "MISSED"
            lines.append(
                f"{n:>6} guests, launch to first name: median {app:.0f} ms, target"
                f" {TARGET_MS[n]:.0f} ms: {met} (90th percentile {r['kvmtui_p90_ms']:.0f})"
            )
        limit = virsh + VIRSH_MARGIN_MS
        met = "met" if app <= limit else "MISSED"
        lines.append(
            f"{n:>6} guests, against virsh list --all: kvmtui {app:.0f} ms, virsh {virsh:.0f} ms"
            f" + {VIRSH_MARGIN_MS:.0f} = {limit:.0f} ms: {met} (ratio {app / virsh:.2f})"
        )
    return lines


def _print(results: list[dict[str, Any]]) -> None:
    print()
    print(f"Launch to the first guest name on a {COLUMNS}x{LINES} pseudo-terminal, ms")
    head = (
        f"{'guests':>7} {'runs':>4} | {'kvmtui':>7} {'p90':>7} | {'virsh':>7} {'p90':>7} |"
        f" {'ratio':>5} {'diff':>6} | {'ref':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r['guests']:>7} {r['runs']:>4} | {r['kvmtui_ms']:>7.0f} {r['kvmtui_p90_ms']:>7.0f} |"
            f" {r['virsh_ms']:>7.0f} {r['virsh_p90_ms']:>7.0f} |"
            f" {r['kvmtui_ms'] / r['virsh_ms']:>5.2f} {r['kvmtui_ms'] - r['virsh_ms']:>+6.0f} |"
            f" {r['reference_ms'][0]:>4.0f}/{r['reference_ms'][1]:<4.0f}"
        )
    print()
    print("kvmtui: `kvmtui -c test+unix:///default` launched until bench-00000 is painted;")
    print("virsh: `virsh -c test+unix:///default list --all` launched until it prints the")
    print("same name. Medians / 90th percentiles of interleaved runs through libvirtd.")
    print("ratio: kvmtui / virsh; diff: kvmtui - virsh. ref: reference loop before/after,")
    print("ms (machine speed).")
    for r in results:
        if "before_ms" in r:
            print(
                f"{r['guests']:>7} guests, before ({r['before']}): median {r['before_ms']:.0f}"
                f" ms, p90 {r['before_p90_ms']:.0f}; before/now"
                f" {r['before_ms'] / r['kvmtui_ms']:.2f}x"
            )
    print()
    for line in verdicts(results):
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--before", type=Path, help="another kvmtui script to measure in the same runs"
    )
    args = parser.parse_args(argv)
    from bench.nodes import write_report

    results = []
    for size in args.sizes:
        print(f"measuring start-up with {size} guests ...", flush=True)
        results.append(measure(size, args.runs, args.before))
    _print(results)
    write_report(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
