"""The domain model (backend/domain/): every field read from a rich fixture, each edit
against its expected XML, an edit confined to its own node, and round trips through
libvirt (its test:/// driver, and real guests of the real daemon) that change nothing.

Fixtures: tests/data/domain/rich.xml (every field, comments, a vendor namespace in the
metadata, a vendor element in a disk, qemu:commandline) and tests/data/domain/edits/,
one expected document per edit of rich.xml.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest
from lxml import etree

from conftest import node_uri
from kvmtui.backend.agent_info import AgentState, channel_state
from kvmtui.backend.domain import (
    BackingStore,
    Device,
    Domain,
    DomainXmlError,
    Source,
)
from kvmtui.backend.domain.guest import Memory
from kvmtui.backend.domain.layout import Balloon, DiskInfo, NicInfo, layout_of
from kvmtui.backend.domain.xmlnode import INT, ONOFF, STR, YESNO, Flag, Prop, XmlNode, props
from kvmtui.backend.throttle import DiskDevice, NicDevice, devices_of
from tests.harness.guests import GuestFactory, quiet_libvirt_errors, tap_name

DATA = Path(__file__).parents[1] / "data"
RICH = DATA / "domain" / "rich.xml"
EDITS = DATA / "domain" / "edits"
NODE_FILES = ("node.xml", "balloon_node.xml", "storage-node.xml", "throttle_node.xml")
INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE


def rich() -> Domain:
    return Domain.from_xml(RICH.read_text())


# -- comparing documents ------------------------------------------------------------------


def label(element: Any) -> str:
    """``disk[2]``: the tag and its 1-based place among siblings of the same tag."""
    parent = element.getparent()
    siblings = [element] if parent is None else [s for s in parent if s.tag == element.tag]
    name = element.tag if isinstance(element.tag, str) else "comment()"
    return f"{name}[{siblings.index(element) + 1}]"


def path_of(element: Any) -> str:
    return "/" + "/".join(label(e) for e in reversed([element, *element.iterancestors()]))


def _fingerprint(element: Any) -> bytes:
    if not isinstance(element.tag, str):  # a comment or processing instruction
        return bytes(etree.tostring(element, with_tail=False))
    copy = etree.fromstring(etree.tostring(element, with_tail=False))
    for node in copy.iter():
        node.text = (node.text or "").strip() or None
        node.tail = None
    return bytes(etree.tostring(copy, method="c14n"))


def differences(before: Any, after: Any) -> set[str]:
    """Where two trees differ: ``.../@name`` for an attribute, ``.../text()`` for text,
    an element's path for one added or removed (paths as :func:`path_of` names them;
    whitespace between elements does not count)."""
    if before.tag != after.tag:  # one node went, another came
        return {path_of(before), path_of(after)}
    here = path_of(before)
    found = {
        f"{here}/@{name}"
        for name in set(before.attrib) | set(after.attrib)
        if before.get(name) != after.get(name)
    }
    if (before.text or "").strip() != (after.text or "").strip():
        found.add(f"{here}/text()")
    left, right = list(before), list(after)
    matcher = difflib.SequenceMatcher(
        None, [_fingerprint(e) for e in left], [_fingerprint(e) for e in right], autojunk=False
    )
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        if op == "replace" and i2 - i1 == j2 - j1:
            for old, new in zip(left[i1:i2], right[j1:j2], strict=True):
                found |= differences(old, new)
            continue
        found |= {path_of(e) for e in left[i1:i2]} | {path_of(e) for e in right[j1:j2]}
    return found


def confined(found: set[str], node: XmlNode, prop: Prop[Any] | Flag) -> bool:
    """Whether every difference is the property's own value, or an element on its path
    below its node (made to hold the value, or removed when left empty)."""
    base = path_of(node.element)
    steps = "".join(f"/{step}[1]" for step in prop.steps)
    element = f"{base}{steps}"
    own = {element}
    if isinstance(prop, Prop):
        own = {element + (f"/@{prop.attribute}" if prop.attribute else "/text()")}
    if isinstance(prop, Memory):  # written in KiB: the unit goes with the number
        own.add(f"{element}/@unit")
    return bool(found) and all(
        path in own
        or ((path == element or element.startswith(path + "/")) and path.startswith(base + "/"))
        for path in found
    )


def edited(edit: Callable[[Domain], object]) -> tuple[Domain, Domain]:
    before, after = rich(), rich()
    edit(after)
    return before, after


# -- reading: every field has a known value ----------------------------------------------

FIELDS: list[tuple[str, Callable[[Domain], object], object]] = [
    ("hypervisor", lambda d: d.hypervisor, "kvm"),
    ("name", lambda d: d.name, "rich"),
    ("uuid", lambda d: d.uuid, "5d1c2f3a-7b8e-4c9d-a0b1-c2d3e4f5a6b7"),
    ("title", lambda d: d.title, "Rich guest"),
    ("description", lambda d: d.description, "Every field the model reads.\nSecond line."),
    ("memory in GiB read as KiB", lambda d: d.memory_kib, 2 * 1024 * 1024),
    ("current memory in MiB read as KiB", lambda d: d.current_memory_kib, 1536 * 1024),
    ("vcpus maximum", lambda d: d.vcpus_max, 4),
    ("vcpus current", lambda d: d.vcpus, 2),
    ("cpu mode", lambda d: d.cpu_mode, "host-passthrough"),
    ("os type", lambda d: d.os_type, "hvm"),
    ("arch", lambda d: d.arch, "x86_64"),
    ("machine", lambda d: d.machine, "pc-q35-7.2"),
    ("firmware (none: explicit loader)", lambda d: d.firmware, None),
    ("loader", lambda d: d.loader, "/usr/share/OVMF/OVMF_CODE.fd"),
    ("loader type", lambda d: d.loader_type, "pflash"),
    ("loader readonly", lambda d: d.loader_readonly, True),
    ("loader secure", lambda d: d.loader_secure, False),
    ("nvram", lambda d: d.nvram, "/var/lib/libvirt/qemu/nvram/rich_VARS.fd"),
    ("nvram template", lambda d: d.nvram_template, "/usr/share/OVMF/OVMF_VARS.fd"),
    ("boot devices", lambda d: d.boot_devices, ("hd", "cdrom")),
    ("boot menu", lambda d: d.boot_menu, True),
    ("boot menu timeout", lambda d: d.boot_menu_timeout_ms, 3000),
]


def test_the_device_list_is_every_device_in_document_order() -> None:
    assert [device.tag for device in rich().devices] == [
        "emulator", "disk", "disk", "disk", "disk", "disk", "interface", "interface",
        "interface", "serial", "console", "channel", "channel", "graphics", "video",
        "memballoon", "rng",
    ]  # fmt: skip
    assert type(rich().devices[-1]) is Device  # rng: no class of its own, kept as it is


@pytest.mark.parametrize(("field", "read", "expected"), FIELDS, ids=[f[0] for f in FIELDS])
def test_domain_field_reads_its_value(
    field: str, read: Callable[[Domain], object], expected: object
) -> None:
    assert read(rich()) == expected


def test_firmware_autoselection_reads() -> None:
    domain = Domain.from_xml("<domain><os firmware='efi'><type>hvm</type></os></domain>")
    assert (domain.firmware, domain.os_type, domain.loader) == ("efi", "hvm", None)


def test_per_device_boot_order_reads() -> None:
    domain = Domain.from_xml((EDITS / "set-boot-order.xml").read_text())
    assert domain.boot_devices == ()
    assert [(d.tag, d.boot_order) for d in domain.devices if d.boot_order] == [
        ("disk", 1),
        ("interface", 2),
    ]


def test_disks_read() -> None:
    vda, vdb, vdc, vdd, sda = rich().disks
    assert [d.target for d in (vda, vdb, vdc, vdd, sda)] == ["vda", "vdb", "vdc", "vdd", "sda"]
    assert [d.type for d in (vda, vdb, vdc, vdd, sda)] == [
        "file", "block", "volume", "network", "file"
    ]  # fmt: skip
    assert [d.device for d in (vda, vdb, vdc, vdd, sda)] == ["disk"] * 4 + ["cdrom"]
    assert [d.bus for d in (vda, vdb, vdc, vdd, sda)] == [
        "virtio", "virtio", "scsi", "virtio", "sata"
    ]  # fmt: skip
    assert [d.format for d in (vda, vdb, vdc, vdd, sda)] == ["qcow2", "raw", "qcow2", "raw", "raw"]
    assert [d.cache for d in (vda, vdb, vdc, vdd, sda)] == ["none", "writeback", None, None, None]
    assert [d.driver_name for d in (vda, vdb)] == ["qemu", "qemu"]
    assert [d.readonly for d in (vda, vdb, sda)] == [False, False, True]
    assert [d.shareable for d in (vda, vdb, sda)] == [False, True, False]
    assert vda.serial == "RICH-0001"
    assert vda.iotune == {"total_bytes_sec": 10485760, "read_iops_sec": 400}
    assert vda.iotune_group == "slow"
    assert vdb.iotune == {} and vdb.iotune_group is None


def test_disk_sources_read() -> None:
    vda, vdb, vdc, vdd, sda = rich().disks
    sources = [d.source for d in (vda, vdb, vdc, vdd, sda)]
    assert all(isinstance(s, Source) for s in sources)
    file, block, volume, network, iso = (s for s in sources if s is not None)
    assert file.file == "/var/lib/libvirt/images/rich.qcow2"
    assert block.dev == "/dev/vg0/data" and block.file is None
    assert (volume.pool, volume.volume) == ("default", "scratch.qcow2")
    assert (network.protocol, network.name) == ("nbd", "export0")
    assert network.hosts == (("nbd.example.org", 10809),)
    assert iso.file == "/srv/iso/debian-12.iso"
    assert [d.source_text for d in (vda, vdb, vdc, vdd, sda)] == [
        "/var/lib/libvirt/images/rich.qcow2",
        "/dev/vg0/data",
        "default/scratch.qcow2",
        "export0",
        "/srv/iso/debian-12.iso",
    ]


def test_backing_chain_reads_as_libvirt_reports_it() -> None:
    vda, vdb, *_ = rich().disks
    chain = vda.backing_chain
    assert all(isinstance(layer, BackingStore) for layer in chain)
    assert [(layer.index, layer.type, layer.format) for layer in chain] == [
        (1, "file", "qcow2"),
        (2, "file", "raw"),
    ]
    assert [layer.source.file for layer in chain if layer.source] == [
        "/var/lib/libvirt/images/base.qcow2",
        "/var/lib/libvirt/images/golden.raw",
    ]
    assert chain[-1].next is None  # an empty <backingStore/>: the chain ends there
    assert vdb.backing_chain == ()


def test_nics_read() -> None:
    domain = rich()
    network, bridge, direct = domain.interfaces
    assert [n.type for n in (network, bridge, direct)] == ["network", "bridge", "direct"]
    assert [n.source for n in (network, bridge, direct)] == ["default", "br0", "eno1"]
    assert (network.source_network, bridge.source_bridge, direct.source_dev) == (
        "default", "br0", "eno1"
    )  # fmt: skip
    assert direct.source_mode == "vepa"
    assert [n.model for n in (network, bridge, direct)] == ["virtio", "e1000e", "virtio"]
    assert [n.mac for n in (network, bridge, direct)] == [
        "52:54:00:aa:bb:01", "52:54:00:aa:bb:02", "52:54:00:aa:bb:03"
    ]  # fmt: skip
    assert [n.target for n in (network, bridge, direct)] == ["vnet7", None, None]
    assert [n.link_state for n in (network, bridge)] == ["down", None]
    assert [n.link_up for n in (network, bridge)] == [False, True]
    assert network.bandwidth("inbound") == {"average": 1000, "peak": 2000, "burst": 512}
    assert network.bandwidth("outbound") == {"average": 500}
    assert bridge.bandwidth("inbound") == {}
    assert domain.interface("52:54:00:AA:BB:02") == bridge


def test_serial_console_and_channels_read() -> None:
    domain = rich()
    (serial,), (console,) = domain.serials, domain.consoles
    assert (serial.type, serial.source_path, serial.target_type, serial.target_port) == (
        "pty", "/dev/pts/4", "isa-serial", 0
    )  # fmt: skip
    assert (console.type, console.target_type, console.target_port) == ("pty", "serial", 0)
    agent, spice = domain.channels
    assert agent.is_agent and not spice.is_agent
    assert domain.agent_channel == agent
    assert (agent.type, agent.target_type, agent.target_state) == ("unix", "virtio", "connected")
    assert agent.source_path == "/run/libvirt/qemu/channel/1-rich/org.qemu.guest_agent.0"
    assert spice.target_name == "com.redhat.spice.0"


def test_balloon_graphics_and_video_read() -> None:
    domain = rich()
    balloon = domain.memballoon
    assert balloon is not None and balloon.present
    assert (balloon.model, balloon.autodeflate, balloon.stats_period) == ("virtio", True, 10)
    (vnc,) = domain.graphics
    assert (vnc.type, vnc.port, vnc.autoport, vnc.listen) == ("vnc", 5901, False, "127.0.0.1")
    assert (vnc.listen_type, vnc.listen_address) == ("address", "127.0.0.1")
    (video,) = domain.videos
    assert (video.model, video.vram, video.heads, video.primary) == ("virtio", 16384, 1, True)


def test_the_screens_values_come_from_the_model() -> None:
    layout = layout_of(rich())
    assert layout.os_text == "hvm x86_64 pc-q35-7.2"
    assert (layout.vcpus, layout.memory_kib) == (4, 2 * 1024 * 1024)
    assert layout.disks[2] == DiskInfo("vdc", "disk", "scsi", "default/scratch.qcow2", "qcow2")
    assert layout.nics[0] == NicInfo("52:54:00:aa:bb:01", "network", "default", "virtio", "vnet7")
    assert layout.balloon == Balloon("virtio", 10)
    disks, nics = devices_of(rich())
    assert disks[4] == DiskDevice("sda", "cdrom", "/srv/iso/debian-12.iso")
    assert nics[2] == NicDevice("52:54:00:aa:bb:03", None, "direct")
    assert channel_state(RICH.read_text(), running=True) is AgentState.CONNECTED


def test_missing_values_read_as_none() -> None:
    domain = Domain.from_xml("<domain type='qemu'><name>bare</name></domain>")
    assert (domain.memory_kib, domain.vcpus, domain.title, domain.os_type) == (None,) * 4
    assert domain.devices == () and domain.memballoon is None and domain.agent_channel is None
    assert layout_of(domain).balloon == Balloon(None, None)


@pytest.mark.parametrize(
    "text", ["", "not xml", "<network><name>default</name></network>", "<domain>"]
)
def test_what_is_not_a_domain_xml_is_refused(text: str) -> None:
    with pytest.raises(DomainXmlError, match="not a domain XML"):
        Domain.from_xml(text)


def test_entities_are_not_expanded() -> None:
    secret = DATA / "domain" / "rich.xml"
    text = (
        f'<!DOCTYPE domain [<!ENTITY x SYSTEM "file://{secret}">]><domain><name>&x;</name></domain>'
    )
    assert "rich" not in (Domain.from_xml(text).name or "")


# -- writing: each edit against its expected document -------------------------------------


def _boot_from_cdrom_then_first_nic(d: Domain) -> None:
    d.set_boot_order([d.disks[4], d.interfaces[0]])


EDIT_CASES: dict[str, tuple[Callable[[Domain], object], set[str]]] = {
    "set-memory": (
        lambda d: d.set_memory(4 * 1024 * 1024, 3 * 1024 * 1024),
        {
            "/domain[1]/memory[1]/text()",
            "/domain[1]/memory[1]/@unit",
            "/domain[1]/currentMemory[1]/text()",
            "/domain[1]/currentMemory[1]/@unit",
        },
    ),
    "set-vcpus": (
        lambda d: d.set_vcpus(3, 8),
        {"/domain[1]/vcpu[1]/text()", "/domain[1]/vcpu[1]/@current"},
    ),
    "set-vcpus-all-at-boot": (lambda d: d.set_vcpus(4), {"/domain[1]/vcpu[1]/@current"}),
    "set-title": (lambda d: d.set_title("Web server"), {"/domain[1]/title[1]/text()"}),
    "remove-title": (lambda d: d.set_title(None), {"/domain[1]/title[1]"}),
    "set-description": (
        lambda d: d.set_description("One line."),
        {"/domain[1]/description[1]/text()"},
    ),
    "set-boot-devices": (
        lambda d: d.set_boot_devices(["network", "hd"]),
        {"/domain[1]/os[1]/boot[1]", "/domain[1]/os[1]/boot[2]"},  # network in, cdrom out
    ),
    "set-boot-order": (
        _boot_from_cdrom_then_first_nic,
        {
            "/domain[1]/os[1]/boot[1]",
            "/domain[1]/os[1]/boot[2]",
            "/domain[1]/devices[1]/disk[5]/boot[1]",
            "/domain[1]/devices[1]/interface[1]/boot[1]",
        },
    ),
    "set-balloon-period": (
        lambda d: d.set_balloon_period(30),
        {"/domain[1]/devices[1]/memballoon[1]/stats[1]/@period"},
    ),
    "set-disk-iotune": (
        lambda d: d.disks[0].set_iotune({"total_bytes_sec": 0, "write_bytes_sec": 1048576}, ""),
        {
            "/domain[1]/devices[1]/disk[1]/iotune[1]/total_bytes_sec[1]",
            "/domain[1]/devices[1]/disk[1]/iotune[1]/write_bytes_sec[1]",
            "/domain[1]/devices[1]/disk[1]/iotune[1]/group_name[1]",
        },
    ),
    "add-disk-iotune": (
        lambda d: d.disks[1].set_iotune({"read_bytes_sec": 2097152, "total_iops_sec": 100}),
        {"/domain[1]/devices[1]/disk[2]/iotune[1]"},
    ),
    "remove-disk-iotune": (
        lambda d: d.disks[0].set_iotune({"total_bytes_sec": 0, "read_iops_sec": 0}, ""),
        {"/domain[1]/devices[1]/disk[1]/iotune[1]"},
    ),
    "set-link-up": (
        lambda d: d.interfaces[0].set_link(True),
        {"/domain[1]/devices[1]/interface[1]/link[1]/@state"},
    ),
    "set-link-down": (
        lambda d: d.interfaces[1].set_link(False),
        {"/domain[1]/devices[1]/interface[2]/link[1]"},
    ),
    "add-device": (
        lambda d: d.add_device(
            "<interface type='network'><mac address='52:54:00:aa:bb:04'/>"
            "<source network='lab'/><model type='virtio'/></interface>"
        ),
        {"/domain[1]/devices[1]/interface[4]"},
    ),
    "remove-device": (
        lambda d: d.remove_device(d.interfaces[1]),
        {"/domain[1]/devices[1]/interface[2]"},
    ),
}


@pytest.mark.parametrize("name", sorted(EDIT_CASES))
def test_edit_gives_the_expected_document(name: str) -> None:
    _before, after = edited(EDIT_CASES[name][0])
    assert after.to_xml() == (EDITS / f"{name}.xml").read_text()


@pytest.mark.parametrize("name", sorted(EDIT_CASES))
def test_edit_changes_nothing_else(name: str) -> None:
    edit, expected = EDIT_CASES[name]
    before, after = edited(edit)
    assert differences(before.element, after.element) == expected


@pytest.mark.parametrize("name", sorted(EDIT_CASES))
def test_edited_document_is_what_libvirt_reads(name: str) -> None:
    """Each expected document is a definition libvirt takes, and reads back the edit."""
    quiet_libvirt_errors()
    conn = libvirt.open("test:///default")
    try:
        dom = conn.defineXML((EDITS / f"{name}.xml").read_text())
        back = Domain.from_xml(dom.XMLDesc(INACTIVE))
        _before, after = edited(EDIT_CASES[name][0])
        assert (back.memory_kib, back.current_memory_kib) == (
            after.memory_kib, after.current_memory_kib
        )  # fmt: skip
        assert (back.vcpus_max, back.vcpus, back.title, back.description) == (
            after.vcpus_max, after.vcpus, after.title, after.description
        )  # fmt: skip
        assert back.boot_devices == after.boot_devices
        assert [(n.mac, n.boot_order, n.link_up) for n in back.interfaces] == [
            (n.mac, n.boot_order, n.link_up) for n in after.interfaces
        ]
        # libvirt lists disks in its own order: compare them by target
        assert {d.target: (d.boot_order, d.iotune, d.iotune_group) for d in back.disks} == {
            d.target: (d.boot_order, d.iotune, d.iotune_group) for d in after.disks
        }
        assert back.memballoon is not None and after.memballoon is not None
        assert back.memballoon.stats_period == after.memballoon.stats_period
    finally:
        conn.close()


def test_comments_and_unknown_elements_survive_every_edit() -> None:
    domain = rich()
    for edit, _paths in EDIT_CASES.values():
        if edit is not EDIT_CASES["remove-device"][0]:
            edit(domain)
    text = domain.to_xml()
    for kept in (
        "<!-- kept: a comment before the root element -->",
        "<!-- kept: a comment between elements -->",
        '<acme:tag xmlns:acme="urn:example:acme" owner="ops" tier="gold"/>',
        '<acme:disk-hint xmlns:acme="urn:example:acme" ssd="yes"/>',
        '<qemu:commandline>\n    <qemu:arg value="-acme-option"/>\n  </qemu:commandline>',
        'xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"',
        '<rng model="virtio">\n      <backend model="random">/dev/urandom</backend>',
        '<cpu mode="host-passthrough" check="none" migratable="on"/>',
    ):
        assert kept in text


def test_an_unchanged_document_is_written_as_read() -> None:
    """Inside the root element, byte for byte; outside it, the comment is kept (libxml2
    keeps no XML declaration and no line break outside the root)."""
    text, out = RICH.read_text(), rich().to_xml()
    assert out[out.index("<name>") :] == text[text.index("<name>") :]
    assert out.startswith("<!-- kept: a comment before the root element --><domain ")
    assert _c14n_document(out) == _c14n_document(text)


def _c14n_document(text: str) -> bytes:
    tree = etree.fromstring(text.encode()).getroottree()
    return bytes(etree.tostring(tree, method="c14n", with_comments=True))


# -- every typed property edits its own node only ----------------------------------------


def _new_value(prop: Prop[Any] | Flag, current: object) -> object:
    if isinstance(prop, Flag):
        return not current
    if prop.kind is INT:
        return (current or 0) + 7 if isinstance(current, int) else 7
    if prop.kind in (YESNO, ONOFF):
        return not current
    assert prop.kind is STR
    return f"{current}-changed" if current else "changed"


def _nodes(domain: Domain) -> Iterator[XmlNode]:
    yield domain
    yield from domain.devices
    for disk in domain.disks:
        yield from disk.backing_chain
        if disk.source is not None:
            yield disk.source


def _cases() -> list[tuple[str, int, str]]:
    cases = []
    for index, node in enumerate(_nodes(rich())):
        for name, _prop in props(type(node)):
            cases.append((f"{path_of(node.element)}.{name}", index, name))
    return cases


@pytest.mark.parametrize(("where", "index", "name"), _cases(), ids=[c[0] for c in _cases()])
def test_setting_a_property_changes_its_node_only(where: str, index: int, name: str) -> None:
    before, after = rich(), rich()
    node = list(_nodes(after))[index]
    prop = dict(props(type(node)))[name]
    value = _new_value(prop, getattr(node, name))
    setattr(node, name, value)
    assert getattr(node, name) == value
    found = differences(before.element, after.element)
    assert confined(found, node, prop), found


@pytest.mark.parametrize(("where", "index", "name"), _cases(), ids=[c[0] for c in _cases()])
def test_clearing_a_property_removes_it_and_nothing_else(where: str, index: int, name: str) -> None:
    before, after = rich(), rich()
    node = list(_nodes(after))[index]
    prop = dict(props(type(node)))[name]
    had = getattr(node, name)
    setattr(node, name, False if isinstance(prop, Flag) else None)
    assert getattr(node, name) in (None, False)
    found = differences(before.element, after.element)
    if had is None or (isinstance(prop, Flag) and not had):
        assert found == set()
    else:
        assert confined(found, node, prop), found


# -- refusals: a sentence and nothing changed ------------------------------------------


REFUSALS: list[tuple[Callable[[Domain], object], str]] = [
    (lambda d: d.set_memory(1024, 2048), "must not exceed the maximum"),
    (lambda d: d.set_memory(0), "more than 0"),
    (lambda d: d.set_vcpus(0), "at least 1 vCPU"),
    (lambda d: d.set_vcpus(5, 4), "more than the maximum of 4"),
    (lambda d: d.set_title("two\nlines"), "one line"),
    (lambda d: d.set_balloon_period(-1), "must not be negative"),
    (lambda d: d.set_boot_devices(["hd", "usb"]), "'usb' is not one of"),
    (lambda d: d.set_boot_devices(["hd", "hd"]), "named once"),
    (lambda d: d.set_boot_order([rich().disks[0]]), "not one of this guest's devices"),
    (lambda d: d.disks[0].set_iotune({"bogus_sec": 1}), "bogus_sec is not a disk I/O limit"),
    (lambda d: d.disks[0].set_iotune({"total_bytes_sec": -1}), "must not be negative"),
    (lambda d: d.interfaces[0].set_bandwidth("sideways", {}), "not inbound or outbound"),
    (lambda d: d.add_device("<disk"), "not a device XML"),
    (lambda d: d.add_device("<domain/>"), "not a device XML"),
    (lambda d: d.remove_device(rich().disks[0]), "not one of this guest's devices"),
]


@pytest.mark.parametrize(("edit", "says"), REFUSALS, ids=[r[1] for r in REFUSALS])
def test_a_refused_edit_says_why_and_changes_nothing(
    edit: Callable[[Domain], object], says: str
) -> None:
    domain = rich()
    with pytest.raises(ValueError, match=says):
        edit(domain)
    assert domain.to_xml() == rich().to_xml()


def test_a_definition_built_from_an_empty_domain_is_laid_out_as_libvirt_writes_it() -> None:
    domain = Domain.from_xml("<domain type='kvm'/>")
    domain.set_boot_devices(["hd"])
    domain.add_device("<disk type='file'><source file='/x.qcow2'/><target dev='vda'/></disk>")
    domain.set_vcpus(1)
    domain.set_memory(262144)
    domain.name = "new"
    assert domain.to_xml() == (
        '<domain type="kvm">\n'
        "  <name>new</name>\n"
        "  <memory>262144</memory>\n"
        "  <currentMemory>262144</currentMemory>\n"
        "  <vcpu>1</vcpu>\n"
        "  <os>\n"
        '    <boot dev="hd"/>\n'
        "  </os>\n"
        "  <devices>\n"
        '    <disk type="file">\n'
        '      <source file="/x.qcow2"/>\n'
        '      <target dev="vda"/>\n'
        "    </disk>\n"
        "  </devices>\n"
        "</domain>\n"
    )


def test_a_document_on_one_line_stays_on_one_line() -> None:
    domain = Domain.from_xml("<domain><name>x</name></domain>")
    domain.set_title("t")
    assert domain.to_xml() == "<domain><name>x</name><title>t</title></domain>\n"


def test_balloon_period_needs_a_balloon() -> None:
    domain = Domain.from_xml("<domain><devices><memballoon model='none'/></devices></domain>")
    with pytest.raises(ValueError, match="no balloon device"):
        domain.set_balloon_period(5)


# -- round trips through libvirt -------------------------------------------------------


def _node_domains() -> list[tuple[str, str]]:
    found = []
    for node_file in NODE_FILES:
        root = etree.parse(str(DATA / node_file)).getroot()
        found += [(node_file, name.text or "") for name in root.iterfind("domain/name")]
    return found


@pytest.mark.parametrize(
    ("node_file", "name"), _node_domains(), ids=[f"{f}:{n}" for f, n in _node_domains()]
)
def test_node_file_domain_round_trips(node_file: str, name: str) -> None:
    """Read, write unchanged, define: libvirt gives back the same definition."""
    quiet_libvirt_errors()
    conn = libvirt.open(node_uri(DATA / node_file))
    try:
        dom = conn.lookupByName(name)
        live = dom.XMLDesc(0)
        assert _c14n(Domain.from_xml(live).to_xml()) == _c14n(live)
        before = dom.XMLDesc(INACTIVE)
        conn.defineXML(Domain.from_xml(before).to_xml())
        assert conn.lookupByName(name).XMLDesc(INACTIVE) == before
    finally:
        conn.close()


def test_rich_fixture_round_trips_through_libvirt() -> None:
    quiet_libvirt_errors()
    conn = libvirt.open("test:///default")
    try:
        original = conn.defineXML(RICH.read_text()).XMLDesc(INACTIVE)
        conn.lookupByName("rich").undefine()
        written = conn.defineXML(rich().to_xml()).XMLDesc(INACTIVE)
        assert written == original
    finally:
        conn.close()


def _c14n(text: str) -> bytes:
    return bytes(etree.tostring(etree.fromstring(text.encode()), method="c14n"))


@pytest.mark.daemon
@pytest.mark.guest
def test_real_guest_round_trips(guest_factory: GuestFactory) -> None:
    """A real guest: its saved definition written unchanged and redefined is the same;
    its running XML reads and writes back unchanged, with the live-only values read."""
    dom = guest_factory()
    conn = dom.connect()
    before = dom.XMLDesc(INACTIVE)
    conn.defineXML(Domain.from_xml(before).to_xml())
    assert dom.XMLDesc(INACTIVE) == before
    live = dom.XMLDesc(0)
    domain = Domain.from_xml(live)
    assert _c14n(domain.to_xml()) == _c14n(live)
    assert domain.name == dom.name() and domain.uuid == dom.UUIDString()
    assert domain.interfaces[0].target == tap_name(dom.name())
    assert domain.agent_channel is not None
    assert domain.memballoon is not None and domain.memballoon.stats_period == 2
    assert domain.disks[0].target == "vda" and domain.disks[0].format == "qcow2"


@pytest.mark.daemon
@pytest.mark.guest
def test_real_guest_takes_an_edit(guest_factory: GuestFactory) -> None:
    """An edit written through the model is the definition the daemon keeps."""
    dom = guest_factory(start=False)
    domain = Domain.from_xml(dom.XMLDesc(INACTIVE))
    domain.set_title("edited by the model")
    domain.set_memory(320 * 1024)
    domain.interfaces[0].set_link(False)
    dom.connect().defineXML(domain.to_xml())
    back = Domain.from_xml(dom.XMLDesc(INACTIVE))
    assert back.title == "edited by the model"
    assert (back.memory_kib, back.current_memory_kib) == (320 * 1024, 320 * 1024)
    assert back.interfaces[0].link_up is False
    assert differences(Domain.from_xml(domain.to_xml()).element, back.element) == set()
