"""Guest events on the real daemon leave nothing behind in the running app.

After a warm-up, 200 pause/resume pairs of one guest and 100 define/undefine pairs of an
extra guest, each followed in the table (the app runs with the Pilot and follows
libvirt's events): Python's traced memory grows less than 2 MiB, and the number of live
objects of each of kvmtui's own classes comes back to its level before (within one
tick's worth of figures, which are replaced every tick).
"""

from __future__ import annotations

import collections
import contextlib
import gc
import tracemalloc
import uuid

import libvirt
import pytest

from kvmtui.backend.model import GuestState
from kvmtui.tui.app import make_app
from tests.harness.guests import GuestFactory, create_disk, domain_type, guest_xml, remove_disks
from tests.harness.image import GuestImage
from tests.pilot import loaded, row_state, run_async, wait_for

pytestmark = pytest.mark.daemon

PAUSES = 200
DEFINES = 100
WARM_UP = 5
MAX_GROWTH = 2 * 1024 * 1024
EVENT_S = 10.0  # an event shows in the table well within this


def kvmtui_objects() -> collections.Counter[str]:
    """Live objects of kvmtui's own classes, by class."""
    gc.collect()
    counts: collections.Counter[str] = collections.Counter()
    for obj in gc.get_objects():
        cls = type(obj)
        if cls.__module__.startswith("kvmtui."):
            counts[f"{cls.__module__}.{cls.__qualname__}"] += 1
    return counts


@run_async
async def test_pause_resume_and_define_undefine_leave_nothing(
    daemon_uri: str, guest_factory: GuestFactory, guest_image: GuestImage
) -> None:
    dom = guest_factory(memory_mib=128)
    name = dom.name()
    conn = libvirt.open(daemon_uri)
    extra = f"kvmtui-test-extra-{uuid.uuid4().hex[:8]}"
    xml = guest_xml(
        extra,
        guest_image,
        domain_type=domain_type(conn, guest_image),
        memory_mib=64,
        vcpus=1,
        disk=create_disk(extra),
    )
    app = make_app([daemon_uri], delay=1.0)
    app.animation_level = "none"
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            screen = await loaded(pilot)
            table = screen.table

            async def shows(guest: str, state: GuestState | None) -> None:
                await wait_for(
                    pilot, lambda: row_state(table, guest) is state, f"{guest} {state}", EVENT_S
                )

            async def pause_resume() -> None:
                dom.suspend()
                await shows(name, GuestState.PAUSED)
                dom.resume()
                await shows(name, GuestState.RUNNING)

            async def define_undefine() -> None:
                defined = conn.defineXML(xml)
                await shows(extra, GuestState.SHUTOFF)
                defined.undefine()
                await shows(extra, None)

            await shows(name, GuestState.RUNNING)
            for _ in range(WARM_UP):
                await pause_resume()
                await define_undefine()
            objects_before = kvmtui_objects()
            guests = len(table.all_guests())
            tracemalloc.start()
            try:
                gc.collect()
                before = tracemalloc.get_traced_memory()[0]
                for _ in range(PAUSES):
                    await pause_resume()
                for _ in range(DEFINES):
                    await define_undefine()
                await pilot.pause()
                gc.collect()
                grown = tracemalloc.get_traced_memory()[0] - before
            finally:
                tracemalloc.stop()
            objects_after = kvmtui_objects()
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            conn.lookupByName(extra).undefine()
        conn.close()
        remove_disks(extra)
    assert grown < MAX_GROWTH, f"traced memory grew {grown / 1024:.0f} KiB"
    # Figures of a tick: a few objects per guest, replaced every tick.
    slack = 3 * guests + 10
    kept = {
        cls: objects_after[cls] - objects_before[cls]
        for cls in objects_after
        if objects_after[cls] - objects_before[cls] > slack
    }
    assert not kept, f"kvmtui objects kept by the events: {kept}"
