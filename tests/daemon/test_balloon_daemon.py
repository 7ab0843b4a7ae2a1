"""The balloon's statistics period on a real guest and the real libvirtd.

The guest boots with no period in its saved configuration (set to 0 through the
backend). Its virtio balloon driver then reports once, at boot, and never again:
monitoring, which reads it for several ticks, must not change that. Once the admin sets
a live period through the backend, the reports come every period, and the saved
configuration still has none. The statistics take the boot report while it is fresh
and count it as unknown once it is older than BALLOON_STALE_S (a later clock shows it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import libvirt
import pytest

from kvmtui.backend.balloon import balloon_of, set_stats_period
from kvmtui.backend.domain import Domain
from kvmtui.backend.host import Host
from kvmtui.backend.poller import StatsPoller
from kvmtui.backend.stats import BALLOON_STALE_S, StatsCollector, guest_rates
from kvmtui.backend.throttle import Scope
from tests.daemon.test_stats_daemon import Ticks
from tests.harness.guests import GuestFactory
from tests.hosts import started_host
from tests.waiting import wait_for

pytestmark = [pytest.mark.daemon, pytest.mark.guest]


@pytest.fixture
def host(daemon_uri: str) -> Iterator[Host]:
    with started_host(daemon_uri) as host:
        yield host


def last_update(dom: libvirt.virDomain) -> int:
    """When QEMU last had a report from the guest's balloon driver (0: never)."""
    conn = dom.connect()
    ((_, stats),) = conn.domainListGetStats([dom], libvirt.VIR_DOMAIN_STATS_BALLOON)
    return int(stats.get("balloon.last-update", 0))


def period(dom: libvirt.virDomain, flags: int = 0) -> int | None:
    return balloon_of(Domain.from_xml(dom.XMLDesc(flags))).period_s


def memory_in_use(host: Host, uuid: str, wall_clock: float | None = None) -> int | None:
    """Memory in use from one bulk read, as a StatsCollector with that wall clock sees it."""
    conn = host.connection()
    collector = StatsCollector(host.label, wall_clock=lambda: wall_clock or time.time())
    counters = collector.sample(conn, [conn.lookupByUUIDString(uuid)]).guests[uuid]
    return guest_rates(host.label, None, counters, None).mem_used_kib


def test_monitoring_leaves_the_period_alone_and_b_turns_the_reports_on(
    host: Host, guest_factory: GuestFactory
) -> None:
    dom = guest_factory(start=False)
    uuid = dom.UUIDString()
    wait_for(lambda: host.guest(uuid), 10, what="the host to see the new guest")
    set_stats_period(host, uuid, 0, Scope.CONFIG)
    assert not period(dom, libvirt.VIR_DOMAIN_XML_INACTIVE)
    dom.create()
    booted = wait_for(lambda: last_update(dom), 60, 0.5, what="the balloon's boot report")
    assert memory_in_use(host, uuid) is not None, "the boot report is fresh"
    later = booted + BALLOON_STALE_S + 1
    assert memory_in_use(host, uuid, later) is None, "the boot report, stale"

    with started_host(host.uri, readonly=True) as ro:
        ticks = Ticks()
        poller = StatsPoller(ro, ticks, interval=0.5)
        poller.start()
        try:
            # Four seconds of ticks (eight or so): the boot report stays the only one.
            watched_until = time.monotonic() + 4.0
            while time.monotonic() < watched_until:
                assert last_update(dom) == booted, "the guest reported without a period"
                time.sleep(0.25)
            assert ticks.count >= 3, f"only {ticks.count} ticks"
        finally:
            poller.stop()
    assert not period(dom), "monitoring set a period"

    set_stats_period(host, uuid, 1, Scope.LIVE)
    assert period(dom) == 1
    first = wait_for(lambda: (u := last_update(dom)) > booted and u, 10, 0.25, what="a report")
    second = wait_for(lambda: (u := last_update(dom)) > first and u, 10, 0.25, what="next")
    assert memory_in_use(host, uuid, second + BALLOON_STALE_S - 1) is not None
    assert not period(dom, libvirt.VIR_DOMAIN_XML_INACTIVE), "the saved configuration changed"
