"""Snapshots with fixed creation times on libvirt's test:/// driver, for deterministic
screens: the test driver stamps the clock, so each snapshot is made, then redefined
with its creation time replaced."""

from __future__ import annotations

import re

import libvirt
from textual.pilot import Pilot

from kvmtui.screens.snapshots import SnapshotsScreen
from kvmtui.tui.app import KvmtuiApp
from tests.pilot import DATA, connected_host, wait_for

#: tests/data/snapshot-node.xml: web (running, qcow2), legacy (raw disk), firmware (UEFI),
#: appliance (a qcow2 on a block device).
SNAPSHOT_NODE_URI = f"test://{DATA / 'snapshot-node.xml'}"
WEB_UUID = "5a4b0000-0000-4000-8000-000000000001"
LEGACY_UUID = "5a4b0000-0000-4000-8000-000000000002"
FIRMWARE_UUID = "5a4b0000-0000-4000-8000-000000000003"
APPLIANCE_UUID = "5a4b0000-0000-4000-8000-000000000004"
#: 2023-11-14 22:13:20 UTC, and an hour per snapshot after it.
FIRST_TIME = 1_700_000_000

#: (name, parent, description) in the order made: a tree of two branches below "base".
WEB_TREE = (
    ("base", None, "fresh install"),
    ("packages", "base", "nginx and certbot installed"),
    ("config", "packages", ""),
    ("experiment", "base", "trying a newer kernel"),
)


def _redefine_at(dom: libvirt.virDomain, snap: libvirt.virDomainSnapshot, when: int) -> None:
    xml = re.sub(
        r"<creationTime>\d+</creationTime>", f"<creationTime>{when}</creationTime>",
        snap.getXMLDesc(0),
    )  # fmt: skip
    dom.snapshotCreateXML(xml, libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)


def make_tree(
    conn: libvirt.virConnect,
    uuid: str = WEB_UUID,
    tree: tuple[tuple[str, str | None, str], ...] = WEB_TREE,
    current: str | None = "config",
) -> None:
    """Make ``tree`` on the guest (each under its parent), fixed times, ``current`` last."""
    dom = conn.lookupByUUIDString(uuid)
    for number, (name, parent, description) in enumerate(tree):
        if parent is not None:
            dom.revertToSnapshot(dom.snapshotLookupByName(parent, 0), 0)
        text = f"<description>{description}</description>" if description else ""
        snap = dom.snapshotCreateXML(
            f"<domainsnapshot><name>{name}</name>{text}</domainsnapshot>", 0
        )
        _redefine_at(dom, snap, FIRST_TIME + 3600 * number)
    if current is not None:
        dom.revertToSnapshot(dom.snapshotLookupByName(current, 0), 0)


async def open_snapshots(
    pilot: Pilot[None], uuid: str = WEB_UUID, tree: bool = True
) -> SnapshotsScreen:
    """The snapshot screen of ``uuid`` on the app's first host (the snapshot node), with
    WEB_TREE made first when ``tree``, once the snapshots are read."""
    host = await connected_host(pilot, uuid)
    if tree:
        make_tree(host.connection())
    guest = host.guest(uuid)
    assert guest is not None
    app = pilot.app
    assert isinstance(app, KvmtuiApp)
    screen = SnapshotsScreen(host, uuid, guest.name, app.jobs)
    await pilot.app.push_screen(screen)
    await wait_for(pilot, lambda: screen.loads >= 1, "the snapshots")
    await pilot.pause()
    return screen
