"""New device elements for hot-plug and the saved definition, written through the model's
typed properties (the configuration editor's disks and NICs): a disk, a NIC, a free
target name and a fresh MAC address."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import TypeVar

from lxml import etree

from kvmtui.backend.domain.devices import Disk, Interface
from kvmtui.backend.domain.xmlnode import XmlNode

#: The device-name prefix libvirt expects for each disk bus.
BUS_PREFIX = {"virtio": "vd", "scsi": "sd", "sata": "sd", "usb": "sd", "ide": "hd", "xen": "xvd"}
DISK_BUSES = tuple(BUS_PREFIX)
NIC_KINDS = ("network", "bridge", "direct")
NIC_MODELS = ("virtio", "e1000e", "e1000", "rtl8139")
#: QEMU's locally administered MAC prefix, as libvirt generates.
MAC_PREFIX = "52:54:00"


def _letters(index: int) -> str:
    """0 -> a, 25 -> z, 26 -> aa (as the kernel names sd/vd devices)."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(ord("a") + rest) + name
    return name


def free_target(bus: str, taken: Iterable[str]) -> str:
    """The first target name of ``bus`` no disk uses (vdb when vda is taken)."""
    if bus not in BUS_PREFIX:
        raise ValueError(f"'{bus}' is not a disk bus ({', '.join(DISK_BUSES)})")
    used = set(taken)
    prefix = BUS_PREFIX[bus]
    return next(
        f"{prefix}{_letters(i)}" for i in range(18278) if f"{prefix}{_letters(i)}" not in used
    )


def new_mac(taken: Iterable[str], rng: random.Random | None = None) -> str:
    """A MAC address under QEMU's prefix that none of ``taken`` has."""
    used = {mac.lower() for mac in taken}
    pick = rng or random.SystemRandom()
    while True:
        mac = MAC_PREFIX + "".join(f":{pick.randrange(256):02x}" for _ in range(3))
        if mac not in used:
            return mac


def new_disk(
    *,
    source: str | None,
    target: str,
    bus: str = "virtio",
    device: str = "disk",
    source_type: str = "file",
    fmt: str | None = None,
    readonly: bool = False,
) -> Disk:
    """A ``<disk>``: ``source_type`` file (a path) or block (a device); no source for an
    empty CD-ROM drive. ``fmt`` qcow2 or raw (the driver's type)."""
    if bus not in BUS_PREFIX:
        raise ValueError(f"'{bus}' is not a disk bus ({', '.join(DISK_BUSES)})")
    disk = Disk(etree.Element("disk"))
    disk.type = source_type
    disk.device = device
    disk.driver_name = "qemu"
    disk.format = fmt or "raw"
    if source:
        if source_type == "block":
            disk.element.append(etree.Element("source", dev=source))
        else:
            disk.element.append(etree.Element("source", file=source))
    disk.element.append(etree.Element("target", dev=target, bus=bus))
    disk.readonly = readonly or device == "cdrom"
    return _compact(disk)


def set_media(disk: Disk, path: str | None) -> None:
    """Put ``path`` in a CD-ROM drive (a file), or empty it (None)."""
    for old in disk.element.findall("source"):
        disk.element.remove(old)
    if path:
        disk.type = "file"
        source = etree.Element("source", file=path)
        driver = disk.element.find("driver")
        at = disk.element.index(driver) + 1 if driver is not None else 0
        disk.element.insert(at, source)


def new_interface(kind: str, source: str, *, model: str = "virtio", mac: str) -> Interface:
    """A NIC on a libvirt network, a host bridge or a host device (direct, macvtap)."""
    if kind not in NIC_KINDS:
        raise ValueError(f"'{kind}' is not a NIC kind kvmtui attaches ({', '.join(NIC_KINDS)})")
    if not source:
        raise ValueError(f"a {kind} NIC needs a {_SOURCE_WORD[kind]}")
    nic = Interface(etree.Element("interface"))
    nic.type = kind
    nic.mac = mac
    attributes = {"network": {"network": source}, "bridge": {"bridge": source}}.get(
        kind, {"dev": source, "mode": "bridge"}
    )
    nic.element.append(etree.Element("source", attributes))
    nic.model = model
    return _compact(nic)


N = TypeVar("N", bound=XmlNode)


def _compact(node: N) -> N:
    """One line, no layout whitespace: the model indents a child it adds to a lone new
    element; :meth:`Domain.add_device` lays the device out like its siblings."""
    for element in node.element.iter():
        if element.text is not None and not element.text.strip():
            element.text = None
        if element.tail is not None and not element.tail.strip():
            element.tail = None
    return node


_SOURCE_WORD = {"network": "network name", "bridge": "bridge name", "direct": "host device"}
