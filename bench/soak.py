"""Soak benchmark: `make soak`, or `.venv/bin/python bench/soak.py [--minutes 10] [-d 1]`.

Runs the real app headless (Textual's Pilot) on qemu:///system with the demo guests
(`make demo` sets them up) for ``--minutes`` at ``-d`` seconds, with random churn every
``--every`` seconds:

- lifecycle changes of a test guest of its own: start, pause, resume, shutdown, destroy;
- define and undefine of an extra guest;
- a demo guest's console opened (c) and left (Ctrl+]);
- screens opened and closed: details, agent, host, KSM, storage, help, the delay question;
- one libvirtd restart half-way (stopped and started as tests/harness/daemon.py does).

Every minute it prints the process's RSS, the CPU seconds of that minute and the number
of live Python objects. The target: after the first two minutes RSS and CPU per minute
stay flat, within 5 %: the verdict compares the trend over those minutes (least-squares
slope times the span) against their mean, so a minute of noise does not decide it.
Stops the daemon for a moment: hold whatever lock other users of the daemon respect.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import random
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import libvirt  # noqa: E402
from textual.pilot import Pilot  # noqa: E402

from kvmtui.screens.console import ConsoleScreen  # noqa: E402
from kvmtui.screens.guests import GuestsScreen  # noqa: E402
from kvmtui.tui.app import KvmtuiApp, make_app  # noqa: E402
from kvmtui.tui.widgets.terminal import LEAVE_KEY  # noqa: E402
from tests.harness import daemon  # noqa: E402
from tests.harness.__main__ import DEMO_PREFIX  # noqa: E402
from tests.harness.guests import (  # noqa: E402
    create_disk,
    define_guest,
    destroy_and_undefine,
    domain_type,
    guest_xml,
    quiet_libvirt_errors,
    remove_disks,
)
from tests.harness.image import build_image  # noqa: E402
from tests.pilot import loaded, select, wait_for  # noqa: E402

URI = daemon.SYSTEM_URI
SETTLE_MINUTES = 2
TARGET = 0.05
#: Screens opened from the guest list and closed again: (opening key, closing key).
SCREENS = [
    ("enter", "escape"),
    ("g", "escape"),
    ("H", "escape"),
    ("K", "escape"),
    ("S", "escape"),
    ("question_mark", "escape"),
    ("d", "escape"),
]


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def trend(values: Sequence[float]) -> float:
    """Change over the span by the least-squares slope, as a share of the mean."""
    if len(values) < 2:
        return 0.0
    xs = range(len(values))
    slope = statistics.linear_regression(xs, values).slope
    mean = statistics.fmean(values)
    return slope * (len(values) - 1) / mean if mean else 0.0


class Churn:
    """The random changes, each a libvirt call off the event loop or keys in the app."""

    def __init__(self, pilot: Pilot[None], conn: libvirt.virConnect, rng: random.Random) -> None:
        self.pilot = pilot
        self.app = pilot.app
        self.rng = rng
        self.conn = conn
        image = build_image()
        tag = uuid.uuid4().hex[:8]
        self.guest = f"kvmtui-test-soak-{tag}"
        self.extra = f"kvmtui-test-soak-extra-{tag}"
        define_guest(conn, self.guest, image, memory_mib=128, start=False)
        self.extra_xml = guest_xml(
            self.extra,
            image,
            domain_type=domain_type(conn, image),
            memory_mib=64,
            vcpus=1,
            disk=create_disk(self.extra),
        )
        self.counts: dict[str, int] = {}

    def reconnect(self) -> None:
        with contextlib.suppress(libvirt.libvirtError):
            self.conn.close()
        self.conn = libvirt.open(URI)

    def _lifecycle(self) -> str:
        dom = self.conn.lookupByName(self.guest)
        state = dom.state()[0]
        if state == libvirt.VIR_DOMAIN_SHUTOFF:
            dom.create()
            return "start"
        if state == libvirt.VIR_DOMAIN_PAUSED:
            dom.resume()
            return "resume"
        choice = self.rng.choice(["pause", "pause", "shutdown", "destroy"])
        if choice == "pause":
            dom.suspend()
        elif choice == "shutdown":
            dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
        else:
            dom.destroy()
        return choice

    def _define(self) -> str:
        try:
            self.conn.lookupByName(self.extra).undefine()
            return "undefine"
        except libvirt.libvirtError:
            self.conn.defineXML(self.extra_xml)
            return "define"

    async def _in_thread(self, call: Callable[[], str]) -> str:
        try:
            return await asyncio.to_thread(call)
        except libvirt.libvirtError:
            return "refused"  # e.g. shutdown of a guest still booting: churn goes on

    async def _guest_list(self) -> GuestsScreen | None:
        app = self.app
        if not isinstance(app.screen, GuestsScreen):
            return None
        return app.screen

    async def _back_to(self, screen: GuestsScreen) -> None:
        """Escape until the guest list shows again (a question may have come first)."""
        for _ in range(5):
            if self.app.screen is screen:
                return
            await self.pilot.press("escape")
            with contextlib.suppress(AssertionError):
                await wait_for(self.pilot, lambda: self.app.screen is screen, "the list", 5)

    async def _screen(self) -> str:
        screen = await self._guest_list()
        if screen is None or screen.table.selected_guest is None:
            return "skipped"
        opening, closing = self.rng.choice(SCREENS)
        await self.pilot.press(opening)
        with contextlib.suppress(AssertionError):
            await wait_for(self.pilot, lambda: self.app.screen is not screen, "open", 5)
        await self.pilot.pause(0.3)
        await self.pilot.press(closing)
        with contextlib.suppress(AssertionError):
            await wait_for(self.pilot, lambda: self.app.screen is screen, "close", 10)
        await self._back_to(screen)
        return f"screen {opening}"

    async def _console(self) -> str:
        screen = await self._guest_list()
        if screen is None:
            return "skipped"
        demo = [g for g in screen.table.all_guests() if g.name.startswith(DEMO_PREFIX)]
        running = [g for g in demo if g.state.active]
        if not running:
            return "skipped"
        await select(self.pilot, screen.table, self.rng.choice(running).name)
        await self.pilot.press("c")
        try:
            await wait_for(
                self.pilot, lambda: isinstance(self.app.screen, ConsoleScreen), "console", 5
            )
        except AssertionError:
            await self._back_to(screen)
            return "console refused"
        await self.pilot.pause(0.5)
        await self.pilot.press(LEAVE_KEY)
        with contextlib.suppress(AssertionError):
            await wait_for(self.pilot, lambda: self.app.screen is screen, "console left", 10)
        await self._back_to(screen)
        return "console"

    async def step(self) -> None:
        actions: list[Callable[[], Awaitable[str]]] = [
            lambda: self._in_thread(self._lifecycle),
            lambda: self._in_thread(self._lifecycle),
            lambda: self._in_thread(self._define),
            self._screen,
            self._screen,
            self._console,
        ]
        done = await self.rng.choice(actions)()
        self.counts[done] = self.counts.get(done, 0) + 1

    def clean(self) -> None:
        conn = libvirt.open(URI)
        try:
            for name in (self.guest, self.extra):
                with contextlib.suppress(libvirt.libvirtError):
                    destroy_and_undefine(conn.lookupByName(name))
                remove_disks(name)
        finally:
            conn.close()


async def soak(minutes: float, delay: float, every: float, seed: int) -> bool:
    quiet_libvirt_errors()
    daemon.ensure_daemon()
    conn = libvirt.open(URI)
    demo = [d for d in conn.listAllDomains(0) if d.name().startswith(DEMO_PREFIX)]
    if not any(d.isActive() for d in demo):
        print("no running demo guest: run `make demo` (or python -m tests.harness demo) first")
        return False
    app: KvmtuiApp = make_app([URI], delay=delay)
    app.animation_level = "none"
    rng = random.Random(seed)
    rows: list[tuple[int, float, float, int]] = []
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot)
        churn = Churn(pilot, conn, rng)
        try:
            start = time.monotonic()
            end = start + minutes * 60
            restart_at = start + minutes * 30
            restarted = False
            next_minute = start + 60
            last_cpu = cpu_s()
            print(f"soak: {minutes:g} min at -d {delay:g}, churn every {every:g} s, seed {seed}")
            print(f"{'minute':>6} {'RSS MiB':>8} {'CPU s':>6} {'objects':>9}")
            while time.monotonic() < end:
                if not restarted and time.monotonic() >= restart_at:
                    await asyncio.to_thread(daemon.stop_daemon)
                    await asyncio.to_thread(daemon.start_daemon)
                    await asyncio.to_thread(churn.reconnect)
                    restarted = True
                    print("       libvirtd restarted")
                step_end = time.monotonic() + every
                await churn.step()
                while time.monotonic() < min(step_end, next_minute):
                    await pilot.pause(0.1)
                if time.monotonic() >= next_minute:
                    now_cpu = cpu_s()
                    row = (len(rows) + 1, rss_mib(), now_cpu - last_cpu, len(gc.get_objects()))
                    rows.append(row)
                    last_cpu = now_cpu
                    next_minute += 60
                    print(f"{row[0]:>6} {row[1]:>8.1f} {row[2]:>6.2f} {row[3]:>9}", flush=True)
        finally:
            churn.clean()
            with contextlib.suppress(libvirt.libvirtError):
                churn.conn.close()
    print("churn:", ", ".join(f"{k} {v}" for k, v in sorted(churn.counts.items())))
    steady = rows[SETTLE_MINUTES:]
    if len(steady) < 2:
        print(f"verdict: too short to judge (need more than {SETTLE_MINUTES + 1} minutes)")
        return True
    rss_trend = trend([r[1] for r in steady])
    cpu_trend = trend([r[2] for r in steady])
    objects_trend = trend([float(r[3]) for r in steady])
    flat = abs(rss_trend) <= TARGET and abs(cpu_trend) <= TARGET
    print(
        f"verdict: {'FLAT' if flat else 'GROWING'}: after minute {SETTLE_MINUTES}, RSS "
        f"{rss_trend:+.1%}, CPU per minute {cpu_trend:+.1%}, objects {objects_trend:+.1%} "
        f"over {len(steady)} minutes (target within {TARGET:.0%})"
    )
    return flat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("-d", "--delay", type=float, default=1.0, help="refresh interval (1)")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between changes (2)")
    parser.add_argument("--seed", type=int, default=17, help="random seed of the churn")
    args = parser.parse_args(argv)
    return 0 if asyncio.run(soak(args.minutes, args.delay, args.every, args.seed)) else 1


if __name__ == "__main__":
    sys.exit(main())
