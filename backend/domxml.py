"""The static layout of a guest from its domain XML: OS type, disks, NICs with MACs,
the balloon device and its statistics period.

Parsed once per details screen, in a worker (``XMLDesc`` is an RPC). Only what the
details screen shows; anything missing from the XML is None.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import libvirt

from kvmtui.backend import errors
from kvmtui.backend.balloon import Balloon, balloon_of
from kvmtui.backend.host import Host


@dataclass(frozen=True, slots=True)
class DiskInfo:
    target: str  # vda: the name the statistics use too
    device: str  # disk, cdrom, floppy, lun
    bus: str | None
    source: str | None  # file path, block device, pool/volume or network name
    format: str | None  # qcow2, raw...


@dataclass(frozen=True, slots=True)
class NicInfo:
    mac: str | None
    kind: str  # network, bridge, ethernet, direct, user...
    source: str | None  # network or bridge name, host device
    model: str | None
    target: str | None  # vnet0: host-side device while the guest runs (the stats name)


@dataclass(frozen=True, slots=True)
class DomainLayout:
    os_type: str | None  # hvm, xen, linux, exe
    arch: str | None
    machine: str | None
    vcpus: int | None
    memory_kib: int | None
    disks: tuple[DiskInfo, ...]
    nics: tuple[NicInfo, ...]
    balloon: Balloon  # the running guest's when read from a running guest

    @property
    def os_text(self) -> str:
        parts = [p for p in (self.os_type, self.arch, self.machine) if p]
        return " ".join(parts) if parts else "-"


_MEMORY_UNITS = {
    "b": 1 / 1024, "bytes": 1 / 1024, "k": 1, "kib": 1, "kb": 1000 / 1024,
    "m": 1024, "mib": 1024, "mb": 1e6 / 1024, "g": 1024**2, "gib": 1024**2,
    "gb": 1e9 / 1024, "t": 1024**3, "tib": 1024**3, "tb": 1e12 / 1024,
}  # fmt: skip


def _memory_kib(element: ET.Element | None) -> int | None:
    if element is None or not (element.text or "").strip():
        return None
    factor = _MEMORY_UNITS.get(element.get("unit", "KiB").lower())
    try:
        return int(int(element.text or "0") * factor) if factor is not None else None
    except ValueError:
        return None


def _disk_source(source: ET.Element | None) -> str | None:
    if source is None:
        return None
    for attribute in ("file", "dev", "dir", "name"):
        if source.get(attribute):
            return source.get(attribute)
    if source.get("pool") and source.get("volume"):
        return f"{source.get('pool')}/{source.get('volume')}"
    return None


def parse_domain_xml(xml: str) -> DomainLayout:
    """Raises ValueError when the text is not a domain XML."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ValueError(f"not a domain XML: {exc}") from exc
    if root.tag != "domain":
        raise ValueError(f"not a domain XML: <{root.tag}>")
    os_type = root.find("os/type")
    vcpu = root.findtext("vcpu")
    disks = []
    for disk in root.iterfind("devices/disk"):
        target = disk.find("target")
        driver = disk.find("driver")
        disks.append(
            DiskInfo(
                target=target.get("dev", "?") if target is not None else "?",
                device=disk.get("device", "disk"),
                bus=target.get("bus") if target is not None else None,
                source=_disk_source(disk.find("source")),
                format=driver.get("type") if driver is not None else None,
            )
        )
    nics = []
    for nic in root.iterfind("devices/interface"):
        source = nic.find("source")
        model = nic.find("model")
        target = nic.find("target")
        mac = nic.find("mac")
        source_name = None
        if source is not None:
            source_name = source.get("network") or source.get("bridge") or source.get("dev")
        nics.append(
            NicInfo(
                mac=mac.get("address") if mac is not None else None,
                kind=nic.get("type", "?"),
                source=source_name,
                model=model.get("type") if model is not None else None,
                target=target.get("dev") if target is not None else None,
            )
        )
    return DomainLayout(
        os_type=os_type.text if os_type is not None else None,
        arch=os_type.get("arch") if os_type is not None else None,
        machine=os_type.get("machine") if os_type is not None else None,
        vcpus=int(vcpu) if vcpu and vcpu.strip().isdigit() else None,
        memory_kib=_memory_kib(root.find("memory")),
        disks=tuple(disks),
        nics=tuple(nics),
        balloon=balloon_of(root),
    )


def read_layout(host: Host, uuid: str) -> DomainLayout:
    """The guest's layout as libvirt has it now (a blocking call: run it in a worker).

    Raises :class:`backend.errors.KvmtuiError`.
    """
    action = "read the guest's devices"
    dom = host.domain(uuid, action)
    try:
        xml = dom.XMLDesc(0)
    except libvirt.libvirtError as exc:
        guest = host.guest(uuid)
        raise errors.from_libvirt(
            exc, host=host.label, action=action, guest=guest.name if guest else uuid
        ) from exc
    try:
        return parse_domain_xml(xml)
    except ValueError as exc:
        raise errors.KvmtuiError(
            f"Could not read the devices of {uuid} on {host.label}: {exc}."
        ) from exc
