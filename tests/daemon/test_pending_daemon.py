"""Changes waiting for a restart on real running guests and the real libvirtd, through
the app: a saved-only vCPU change marks the guest in the list (↻) and the details list
it in words; restarting the guest clears the mark; an unchanged running guest, whose
live XML differs from its saved one only in what libvirt fills in at run time (aliases,
pty paths, the tap, seclabels, the id...), shows no mark and no differences.

libvirt sends no event for ``setVcpusFlags(..., AFFECT_CONFIG)``, so the host's sweep
finds the change; the test shortens the sweep from 60 s to 0.5 s.
"""

from __future__ import annotations

import libvirt
import pytest

from kvmtui.backend.domain import Domain
from kvmtui.backend.pending import pending_for
from kvmtui.screens.details import DetailsScreen
from kvmtui.tui.app import make_app
from kvmtui.tui.widgets.guest_facts import PendingChanges
from kvmtui.tui.widgets.guest_table import PENDING_SIGN
from tests.harness.guests import GuestFactory
from tests.hosts import started_host
from tests.pilot import loaded, run_async, select, wait_for

pytestmark = [pytest.mark.daemon, pytest.mark.guest]

SAVED = libvirt.VIR_DOMAIN_XML_INACTIVE
CHANGE = "vCPUs 1 now, 2 after restart"


def one_of_two_vcpus(dom: libvirt.virDomain) -> libvirt.virDomain:
    """Redefine a shut-off guest with 1 vCPU of at most 2, and start it."""
    domain = Domain.from_xml(dom.XMLDesc(SAVED))
    domain.set_vcpus(1, 2)
    redefined = dom.connect().defineXML(domain.to_xml())
    redefined.create()
    return redefined


def test_an_unchanged_running_guest_has_nothing_pending(
    daemon_uri: str, guest_factory: GuestFactory
) -> None:
    dom = guest_factory()
    assert dom.XMLDesc(0) != dom.XMLDesc(SAVED)  # the runtime details differ...
    with started_host(daemon_uri) as host:
        guest = host.guest(dom.UUIDString())
        assert guest is not None and guest.active
        assert pending_for(dom, guest) == ()  # ...and none of them is a pending change
        assert guest.pending == ()


@run_async
async def test_a_saved_only_vcpu_change_is_marked_until_a_restart(
    daemon_uri: str, guest_factory: GuestFactory
) -> None:
    changed = one_of_two_vcpus(guest_factory(vcpus=2, start=False))
    unchanged = guest_factory()
    app = make_app([daemon_uri], stats=False)
    app.animation_level = "none"
    host = app.hosts[0]
    host.pending_sweep = 0.5
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        table = screen.table
        key = f"{host.label}/{changed.UUIDString()}"
        other = f"{host.label}/{unchanged.UUIDString()}"

        changed.setVcpusFlags(2, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        await wait_for(
            pilot, lambda: PENDING_SIGN in table.row_text(key), "the mark", timeout=20
        )
        guest = table.guest(key)
        assert guest is not None and guest.pending == (CHANGE,)
        assert f"running {PENDING_SIGN}" in table.row_text(key)
        # The unchanged guest was swept too: no mark, nothing listed.
        assert PENDING_SIGN not in table.row_text(other)
        assert host.guest(unchanged.UUIDString()).pending == ()  # type: ignore[union-attr]

        await select(pilot, table, changed.name())
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), "details")
        section = app.screen.query_one(PendingChanges)
        assert section.display
        assert CHANGE in str(section.render_guest(section.guest))
        await pilot.press("escape")

        changed.destroy()
        changed.create()
        await wait_for(
            pilot,
            lambda: (g := table.guest(key)) is not None and g.active and g.domain_id is not None
            and PENDING_SIGN not in table.row_text(key),
            "the mark to go after the restart",
            timeout=20,
        )
        assert table.guest(key).pending == ()  # type: ignore[union-attr]
        assert changed.info()[3] == 2  # the saved change took effect at the restart
