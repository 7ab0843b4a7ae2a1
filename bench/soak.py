"""Soak benchmark: `make soak`, or `.venv/bin/python bench/soak.py [--minutes 10] [-d 1]`.

Runs the real app headless (Textual's Pilot) on qemu:///system with the demo guests
(`make demo` sets them up) for ``--minutes`` at ``-d`` seconds, with random churn every
``--every`` seconds:

- lifecycle changes of a test guest of its own: start, pause, resume, shutdown, destroy;
- define and undefine of an extra guest;
- a demo guest's console opened (c) and left (Ctrl+]);
- screens opened and closed: details, agent, host, KSM, storage, help, the delay question;
- one libvirtd restart half-way (stopped and started as tests/harness/daemon.py does).

Every minute it prints the process's RSS, the CPU seconds of that minute, the churn
actions done in it, the CPU seconds per action and the number of live Python objects,
counted after a collection once the screens the churn closed are gone (at most 15 s,
said when it waited; the wait is in no minute).
The target: after the first two minutes RSS and CPU stay flat, within 5 %. The verdict
tells a rise from a fall (memory given back is not a leak) and judges each figure by what
is not noise:

- RSS and objects by their trend over the minutes after minute 2 (least-squares slope
  times the span, against the mean), so one minute does not decide it;
- CPU by the CPU seconds per churn action, the mean of the second half of those minutes
  against the first half: a minute with more (or costlier) churn is not growth.

It prints the figures it uses; the exit status is 1 only when something rises.
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
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import libvirt  # noqa: E402
from textual.pilot import Pilot  # noqa: E402
from textual.screen import Screen  # noqa: E402

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


def live_objects() -> int:
    """Objects the collector tracks once garbage is collected: without the collection the
    count swung by 10,000-25,000 with the cycles still waiting (a soak of 10 minutes read
    40,689 then 67,874 a minute later), and its trend said the swing, not the growth."""
    gc.collect()
    return len(gc.get_objects())


#: How long a closed screen may stay alive before the objects are counted: the longest
#: interval a screen sets (the details' address read, 10 s) and a margin.
RELEASE_WITHIN_S = 15.0


async def released(pilot: Pilot[None], closed: weakref.WeakSet[Screen[object]]) -> float:
    """Wait until the screens the churn closed are gone (at most :data:`RELEASE_WITHIN_S`);
    the seconds waited. A closed screen outlives its close by up to its longest interval:
    stopping a Textual timer cancels its asyncio sleep, and the cancelled handle stays in
    the loop's queue until its time with the context it was made in, whose active message
    pump is the screen (seen: a details screen, about 8,000 objects, alive for up to 10 s).
    Counted then, one screen swung the count by a quarter, and its trend said that."""
    start = time.monotonic()
    while time.monotonic() - start < RELEASE_WITHIN_S:
        gc.collect()
        if not any(screen is not pilot.app.screen for screen in closed):
            break
        await pilot.pause(0.5)
    return time.monotonic() - start


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


def halves(values: Sequence[float]) -> tuple[float, float, float]:
    """Means of the first and second half (the middle value of an odd count in neither),
    and the second's change against the first as a share."""
    half = len(values) // 2
    first = statistics.fmean(values[:half])
    second = statistics.fmean(values[len(values) - half :])
    return first, second, (second - first) / first if first else 0.0


def direction(change: float, target: float = TARGET) -> str:
    """Rising, falling or flat: a change beyond the target either way, or within it."""
    if change > target:
        return "rising"
    if change < -target:
        return "falling"
    return "flat"


@dataclass(frozen=True)
class Minute:
    """One minute's figures: RSS at its end, CPU seconds and churn actions in it."""

    minute: int
    rss_mib: float
    cpu_s: float
    actions: int
    objects: int

    @property
    def cpu_per_action(self) -> float:
        return self.cpu_s / self.actions if self.actions else self.cpu_s


def verdict(rows: Sequence[Minute], settle: int = SETTLE_MINUTES) -> tuple[str, list[str]]:
    """The verdict word (FLAT, FALLING, GROWING, or TOO SHORT) and the lines that give its
    figures: RSS and objects by trend after the settling minutes, CPU by the CPU seconds
    per churn action, second half of those minutes against the first."""
    steady = rows[settle:]
    if len(steady) < 2:
        return "TOO SHORT", [f"need more than {settle + 1} minutes, had {len(rows)}"]
    rss = trend([r.rss_mib for r in steady])
    objects = trend([float(r.objects) for r in steady])
    cpu_first, cpu_second, cpu = halves([r.cpu_per_action for r in steady])
    raw_first, raw_second, raw = halves([r.cpu_s for r in steady])
    judged = {
        "RSS": direction(rss),
        "CPU per action": direction(cpu),
        "objects": direction(objects),
    }
    span = f"minutes {steady[0].minute}-{steady[-1].minute}"
    lines = [
        f"RSS: trend {rss:+.1%} over {span} ({steady[0].rss_mib:.1f} -> "
        f"{steady[-1].rss_mib:.1f} MiB): {judged['RSS']}",
        f"objects: trend {objects:+.1%} over {span} ({steady[0].objects} -> "
        f"{steady[-1].objects}): {judged['objects']}",
        f"CPU per action: {cpu_first * 1000:.0f} ms in the first half, "
        f"{cpu_second * 1000:.0f} ms in the second ({cpu:+.1%}): {judged['CPU per action']}",
        f"CPU per minute (shown, not judged: churn varies): {raw_first:.2f} s, then "
        f"{raw_second:.2f} s ({raw:+.1%})",
    ]
    states = set(judged.values())
    word = "GROWING" if "rising" in states else "FALLING" if "falling" in states else "FLAT"
    if word != "FLAT":
        moved = [f"{name} {state}" for name, state in judged.items() if state != "flat"]
        lines.append(", ".join(moved) + f" beyond {TARGET:.0%}")
    return word, lines


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
        #: The screens ``_screen`` opened and closed (not the consoles: kept on purpose).
        self.closed: weakref.WeakSet[Screen[object]] = weakref.WeakSet()
        self.actions = 0

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
        if self.app.screen is not screen:
            self.closed.add(self.app.screen)
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
        self.actions += 1

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
    rows: list[Minute] = []
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
            last_actions = 0
            print(f"soak: {minutes:g} min at -d {delay:g}, churn every {every:g} s, seed {seed}")
            print(
                f"{'minute':>6} {'RSS MiB':>8} {'CPU s':>6} {'actions':>7} {'ms/act':>6} "
                f"{'objects':>9}"
            )
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
                    rss, cpu, actions = rss_mib(), cpu_s() - last_cpu, churn.actions - last_actions
                    waited = await released(pilot, churn.closed)
                    row = Minute(len(rows) + 1, rss, cpu, actions, live_objects())
                    rows.append(row)
                    # The wait is in no minute: the next one starts after it.
                    last_cpu, last_actions = cpu_s(), churn.actions
                    next_minute += 60 + waited
                    end += waited
                    if waited >= 1:
                        print(
                            f"       (objects counted after {waited:.0f} s: a closed screen "
                            "was still alive)"
                        )
                    print(
                        f"{row.minute:>6} {row.rss_mib:>8.1f} {row.cpu_s:>6.2f} "
                        f"{row.actions:>7} {row.cpu_per_action * 1000:>6.0f} {row.objects:>9}",
                        flush=True,
                    )
        finally:
            churn.clean()
            with contextlib.suppress(libvirt.libvirtError):
                churn.conn.close()
    print("churn:", ", ".join(f"{k} {v}" for k, v in sorted(churn.counts.items())))
    word, lines = verdict(rows)
    print(f"verdict: {word} after minute {SETTLE_MINUTES} (target within {TARGET:.0%})")
    for line in lines:
        print(f"  {line}")
    return word != "GROWING"


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
