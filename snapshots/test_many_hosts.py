"""Snapshots of the status area's compact form (many hosts) on libvirt's test:/// driver.

Every host opens its own copy of tests/data/node.xml (13 guests); one host's node file
does not exist, so it is disconnected from the start. Fixed clock in UTC: "since
22:13:20".
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from conftest import node_uri
from tests.pilot import build_app, ticked

MISSING_URI = "test:///nonexistent/missing.xml"

pytestmark = pytest.mark.usefixtures("utc")


def many_hosts(count: int, down_at: int) -> list[str]:
    """``count`` hosts named kvm01.., the one at ``down_at`` (1-based) disconnected."""
    return [
        f"kvm{i:02d}={MISSING_URI if i == down_at else node_uri()}" for i in range(1, count + 1)
    ]


def test_six_hosts_compact_80x24(snap_compare) -> None:
    """Six hosts at 80x24: the summary line "6 hosts: 5 connected, 1 disconnected since
    22:13:20 · 2 more: H" (the host view lists them); under it kvm04 first (the problem, red
    background, "disconnected since 22:13:20 · Cannot connect…" cut with an ellipsis),
    then kvm01-kvm03 one line each ("connected · 6/13 running · CPU -  mem -": the test
    driver reports neither); the
    guest list fills the rest."""

    async def run_before(pilot: Pilot[None]) -> None:
        await ticked(pilot, 13 * 5)

    app = build_app(*many_hosts(6, down_at=4))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_twenty_hosts_compact_120x40(snap_compare) -> None:
    """Twenty hosts at 120x40: "20 hosts: 19 connected, 1 disconnected since 22:13:20 ·
    14 more: H"; kvm17 (disconnected) is the first host line although it is the
    seventeenth host, then kvm01-kvm05 (six host lines at 40 rows); the guest list
    below."""

    async def run_before(pilot: Pilot[None]) -> None:
        await ticked(pilot, 13 * 19)

    app = build_app(*many_hosts(20, down_at=17))
    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
