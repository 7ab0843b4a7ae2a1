"""What the screens show of a guest's definition, as immutable values built from the
model: :class:`DomainLayout` for the details screen, :class:`Balloon` for the balloon's
statistics period. Built in a worker; the parsed document never reaches the UI."""

from __future__ import annotations

from dataclasses import dataclass

import libvirt

from kvmtui.backend import errors
from kvmtui.backend.domain.guest import Domain, DomainXmlError
from kvmtui.backend.host import Host


@dataclass(frozen=True, slots=True)
class Balloon:
    """A guest's balloon device as one domain XML describes it."""

    model: str | None  # virtio...; None: no <memballoon> element at all
    period_s: int | None  # seconds between reports; None or 0: no reports

    @property
    def present(self) -> bool:
        return self.model is not None and self.model != "none"

    @property
    def text(self) -> str:
        """One phrase for the details screen."""
        if not self.present:
            return "no balloon device: memory in use unknown"
        if not self.period_s:
            return f"not reported ({self.model} balloon, no period set)"
        return f"every {self.period_s} s ({self.model} balloon)"


def balloon_of(domain: Domain) -> Balloon:
    device = domain.memballoon
    if device is None:
        return Balloon(None, None)
    return Balloon(device.model, device.stats_period)


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


def layout_of(domain: Domain) -> DomainLayout:
    return DomainLayout(
        os_type=domain.os_type,
        arch=domain.arch,
        machine=domain.machine,
        vcpus=domain.vcpus_max,
        memory_kib=domain.memory_kib,
        disks=tuple(
            DiskInfo(
                target=disk.target or "?",
                device=disk.device or "disk",
                bus=disk.bus,
                source=disk.source_text,
                format=disk.format,
            )
            for disk in domain.disks
        ),
        nics=tuple(
            NicInfo(
                mac=nic.mac,
                kind=nic.type or "?",
                source=nic.source,
                model=nic.model,
                target=nic.target,
            )
            for nic in domain.interfaces
        ),
        balloon=balloon_of(domain),
    )


def parse_domain_xml(xml: str) -> DomainLayout:
    """Raises ValueError when the text is not a domain XML."""
    return layout_of(Domain.from_xml(xml))


def parse_for(xml: str, *, host: str, guest: str, action: str) -> Domain:
    """Parse a guest's XML for ``action``; a text that is not a domain XML becomes
    :class:`backend.errors.OperationError` naming the guest and host."""
    try:
        return Domain.from_xml(xml)
    except DomainXmlError as exc:
        raise errors.OperationError(
            f"Could not {action} guest '{guest}' on {host}: {exc}.",
            host=host,
            guest=guest,
            action=action,
        ) from exc


def read_domain(host: Host, uuid: str, action: str, flags: int = 0) -> Domain:
    """The guest's definition as libvirt has it now (``flags``: XMLDesc's, e.g.
    VIR_DOMAIN_XML_INACTIVE for the saved configuration). Blocking: run it in a worker.

    Raises :class:`backend.errors.KvmtuiError`.
    """
    dom = host.domain(uuid, action)
    cached = host.guest(uuid)
    name = cached.name if cached else uuid
    try:
        xml = dom.XMLDesc(flags)
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action, guest=name) from exc
    return parse_for(xml, host=host.label, guest=name, action=action)


def read_layout(host: Host, uuid: str) -> DomainLayout:
    """The guest's layout as libvirt has it now (a blocking call: run it in a worker).

    Raises :class:`backend.errors.KvmtuiError`.
    """
    return layout_of(read_domain(host, uuid, "read the devices of"))
