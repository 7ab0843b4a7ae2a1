"""What a clone's definition keeps and what it gets anew (backend/clone.py), on the rich
fixture (tests/data/domain/rich.xml): new name, UUID and MACs, nothing per-guest shared,
other tools' metadata kept; guest and volume names checked as libvirt would."""

from __future__ import annotations

from pathlib import Path

from kvmtui.backend import clone
from kvmtui.backend.domain import Domain
from kvmtui.backend.domain.notes import (
    LinkedClone,
    forget_linked_clones,
    linked_clones_xml,
    parse_linked_clones,
)

RICH = Path(__file__).parents[1] / "data" / "domain" / "rich.xml"
NEW_UUID = "0b0b0b0b-1111-4222-8333-444444444444"


def _rich() -> Domain:
    return Domain.from_xml(RICH.read_text())


def test_clone_gets_new_identity_and_shares_nothing_per_guest() -> None:
    source = _rich()
    made = clone.clone_definition(_rich(), "rich-clone", NEW_UUID)

    assert (made.name, made.uuid) == ("rich-clone", NEW_UUID)
    old_macs = {nic.mac for nic in source.interfaces}
    new_macs = [nic.mac for nic in made.interfaces]
    assert len(set(new_macs)) == len(new_macs) == 3
    assert not old_macs & set(new_macs)
    assert all(mac and mac.startswith("52:54:00:") for mac in new_macs)
    assert source.interfaces[0].target == "vnet7" and made.interfaces[0].target is None
    agent = next(ch for ch in made.channels if ch.is_agent)
    assert agent.source_path is None and agent.element.find("source") is not None
    vnc = made.graphics[0]
    assert (vnc.port, vnc.autoport, vnc.listen) == (None, True, "127.0.0.1")
    # What is not per-guest stays: disks (the job points them at the copies), memory,
    # another tool's metadata.
    assert [d.source_text for d in made.disks] == [d.source_text for d in source.disks]
    assert made.memory_kib == source.memory_kib
    assert '<acme:tag xmlns:acme="urn:example:acme" owner="ops" tier="gold"/>' in made.to_xml()


def test_log_files_are_renamed_after_the_clone() -> None:
    domain = Domain.from_xml(
        "<domain type='kvm'><name>web</name><devices>"
        "<serial type='file'><source path='/var/log/web-serial.log'/>"
        "<log file='/var/log/libvirt/web.console'/><target port='0'/></serial>"
        "<console type='pty'><log file='/logs/console.txt'/><target port='0'/></console>"
        "</devices></domain>"
    )
    clone.clone_definition(domain, "web2", NEW_UUID)
    serial, console = domain.serials[0], domain.consoles[0]
    assert serial.source_path == "/var/log/web2-serial.log"
    assert serial.log_file == "/var/log/libvirt/web2.console"
    assert console.log_file == "/logs/web2-console.txt"


def test_the_linked_clone_note_round_trips_and_is_not_carried_over() -> None:
    entry = LinkedClone(NEW_UUID, "rich-linked", "/pool/rich.qcow2", "/pool/rich-linked.qcow2")
    text = linked_clones_xml((entry,))
    assert parse_linked_clones(text) == (entry,)
    assert parse_linked_clones("<not closed") == ()
    domain = _rich()
    metadata = domain.element.find("metadata")
    assert metadata is not None
    note = domain.element.makeelement(
        "{https://kvmtui.invalid/linked-clones/1}linked-clones", {}
    )
    metadata.append(note)
    forget_linked_clones(domain)
    assert "linked-clones" not in domain.to_xml()
    assert 'owner="ops"' in domain.to_xml()  # the vendor's note stays


def test_volume_names_follow_the_guest_and_avoid_taken_ones() -> None:
    disk = clone.DiskPlan("vda", "/p/web.qcow2", clone.DiskAction.COPY, volume="web.qcow2",
                          format="qcow2")  # fmt: skip
    raw = clone.DiskPlan("vdb", "/p/data.raw", clone.DiskAction.COPY, volume="data.raw",
                         format="raw")  # fmt: skip
    taken = {"web 2.qcow2", "web-2.qcow2"}
    assert clone.new_volume_name("web 2", disk, True, clone.Mode.FULL, taken) == "web-2-2.qcow2"
    assert clone.new_volume_name("web", raw, False, clone.Mode.FULL, set()) == "web-vdb.raw"
    assert clone.new_volume_name("web", raw, False, clone.Mode.LINKED, set()) == "web-vdb.qcow2"
