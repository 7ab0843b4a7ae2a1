"""What a new guest is to be: :class:`NewGuest`, its domain XML and the equivalent
``virt-install`` command line. Pure values and text: no libvirt call here (the checks
against the host and the creation itself are in :mod:`kvmtui.backend.create`).

The domain XML is written through the domain model (:class:`~kvmtui.backend.domain.Domain`).
Every new guest gets a serial console and a guest-agent channel, so the console and the
agent work from the first boot, and no graphics unless asked for.

Disks come from four sources:

- **import**: an existing volume (or a path on the host) used as it is;
- **overlay**: a new thin qcow2 volume whose backing store is a cloud image. The guest
  writes only to the overlay; QEMU opens the image read-only, so the image is never
  written and can back any number of guests;
- **copy**: a new volume holding a full copy of the image;
- **empty**: a new empty volume.
"""

from __future__ import annotations

import random
import re
import shlex
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from enum import StrEnum

from kvmtui.backend.domain import Domain
from kvmtui.backend.domain.devices import AGENT_CHANNEL_NAME, Device
from kvmtui.backend.domain.notes import mark_seed_detach
from kvmtui.backend.guest_name import GuestNameError, check_guest_name
from kvmtui.backend.osinfo import GENERIC_LINUX, OsInfo

MIB = 1024**2
GIB = 1024**3
_MAC = re.compile(r"(?:[0-9a-f]{2}:){5}[0-9a-f]{2}")
#: The prefix libvirt and QEMU use for generated MACs (Red Hat's OUI for KVM).
MAC_PREFIX = "52:54:00"
DISK_FORMATS = ("qcow2", "raw")


class SpecError(ValueError):
    """A value in the spec that kvmtui will not use; the message is the sentence."""


class DiskKind(StrEnum):
    IMPORT = "import"
    OVERLAY = "overlay"
    COPY = "copy"
    EMPTY = "empty"


class NetworkKind(StrEnum):
    NETWORK = "network"  # a libvirt network
    BRIDGE = "bridge"  # a host bridge
    DIRECT = "direct"  # macvtap on a host interface
    NONE = "none"


class Firmware(StrEnum):
    BIOS = "bios"
    UEFI = "uefi"


class SeedBus(StrEnum):
    VIRTIO = "virtio"  # a read-only virtio disk
    SCSI = "scsi"  # a SCSI CD-ROM on a virtio-scsi controller


@dataclass(frozen=True, slots=True)
class VolumeRef:
    """A volume in a pool, or a path on the host."""

    pool: str | None = None
    name: str | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        if not ((self.pool and self.name) or self.path):
            raise SpecError("a volume is a pool and a volume name, or a path on the host")

    @property
    def text(self) -> str:
        return f"{self.pool}/{self.name}" if self.pool and self.name else str(self.path)


@dataclass(frozen=True, slots=True)
class DiskSpec:
    kind: DiskKind
    source: VolumeRef | None = None  # import: the disk; overlay and copy: the image
    pool: str | None = None  # where a new volume goes (overlay, copy, empty)
    volume: str | None = None  # the new volume's name (default: GUEST-N.FORMAT)
    size_bytes: int | None = None  # a new volume's capacity (overlay, copy: at least the image's)
    format: str = "qcow2"  # a new volume's format; an overlay is always qcow2
    preallocate: bool = False  # a new volume fully allocated up front

    @property
    def creates_volume(self) -> bool:
        return self.kind is not DiskKind.IMPORT


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    kind: NetworkKind = NetworkKind.NONE
    source: str | None = None  # network name, bridge name or host interface
    model: str = "virtio"
    mac: str | None = None  # None: generated when the spec is made final


@dataclass(frozen=True, slots=True)
class DirectBoot:
    """Boot a kernel and initrd on the host directly (no boot loader in the disk)."""

    kernel: str
    initrd: str | None = None
    cmdline: str | None = None


@dataclass(frozen=True, slots=True)
class SeedSpec:
    """A cloud-init seed volume to attach (made by the caller)."""

    volume: VolumeRef
    bus: SeedBus = SeedBus.VIRTIO
    #: Mark the guest so that kvmtui detaches the seed once the first boot has ended
    #: (:mod:`kvmtui.backend.seed_watch`).
    detach_after_first_boot: bool = False


@dataclass(frozen=True, slots=True)
class NewGuest:
    name: str
    os: OsInfo = GENERIC_LINUX
    vcpus: int = 1
    memory_mib: int = 1024
    disks: tuple[DiskSpec, ...] = ()
    networks: tuple[NetworkSpec, ...] = ()
    firmware: Firmware = Firmware.BIOS
    graphics: bool = False
    cdrom: VolumeRef | None = None  # an installer ISO, booted first
    seed: SeedSpec | None = None
    direct_boot: DirectBoot | None = None
    boot_network: bool = False  # PXE first, then the first disk
    domain_type: str = "kvm"  # kvm, or qemu (TCG: no hardware virtualization)
    arch: str = "x86_64"
    machine: str | None = None  # None: what the OS wants (q35 or pc)
    start: bool = True

    @property
    def machine_type(self) -> str:
        return self.machine or self.os.machine

    @property
    def disk_bus(self) -> str:
        return "virtio" if self.os.virtio else "sata"

    def volume_name(self, index: int) -> str:
        """The name of the new volume of disk ``index`` (0-based)."""
        disk = self.disks[index]
        if disk.volume:
            return disk.volume
        fmt = "qcow2" if disk.kind is DiskKind.OVERLAY else disk.format
        base = re.sub(r"[^A-Za-z0-9._+-]", "-", self.name).lstrip(".-+") or "guest"
        return f"{base}.{fmt}" if index == 0 else f"{base}-{index}.{fmt}"


# -- checks that need no host ---------------------------------------------------------------


def check_mac(mac: str) -> str:
    typed = mac.strip().lower().replace("-", ":")
    if not _MAC.fullmatch(typed):
        raise SpecError(
            f"'{mac}' is not a MAC address; type six hex pairs, e.g. 52:54:00:12:34:56."
        )
    if int(typed[:2], 16) & 1:
        raise SpecError(f"'{mac}' is a multicast address; a NIC needs a unicast one.")
    return typed


def generate_mac(rng: random.Random | None = None) -> str:
    pick = rng or random.SystemRandom()
    return MAC_PREFIX + "".join(f":{pick.randrange(256):02x}" for _ in range(3))


def check_spec(spec: NewGuest) -> None:
    """Everything that can be checked without the host; raises SpecError."""
    try:
        check_guest_name(spec.name)
    except GuestNameError as exc:
        raise SpecError(str(exc)) from exc
    if spec.vcpus < 1:
        raise SpecError("A guest needs at least 1 vCPU.")
    if spec.memory_mib < 16:
        raise SpecError("A guest needs at least 16 MiB of memory.")
    if (
        not spec.disks
        and spec.cdrom is None
        and spec.direct_boot is None
        and not any(n.kind is not NetworkKind.NONE for n in spec.networks)
    ):
        raise SpecError("The guest has nothing to boot from: add a disk, an ISO or a network.")
    for index, disk in enumerate(spec.disks):
        if disk.kind in (DiskKind.IMPORT, DiskKind.OVERLAY, DiskKind.COPY) and not disk.source:
            raise SpecError(f"Disk {index + 1} ({disk.kind}) needs a volume or a path.")
        if disk.creates_volume and not disk.pool:
            raise SpecError(f"Disk {index + 1} ({disk.kind}) needs a pool for its new volume.")
        if disk.format not in DISK_FORMATS:
            raise SpecError(f"Disk {index + 1}: '{disk.format}' is not qcow2 or raw.")
        if disk.kind is DiskKind.EMPTY and not disk.size_bytes:
            raise SpecError(f"Disk {index + 1} (empty) needs a size.")
    names = [(d.pool, spec.volume_name(i)) for i, d in enumerate(spec.disks) if d.creates_volume]
    if len(set(names)) != len(names):
        raise SpecError("Two new disks would have the same volume name; name them apart.")
    if spec.boot_network and not any(n.kind is not NetworkKind.NONE for n in spec.networks):
        raise SpecError("Network boot (PXE) needs a NIC; choose a network.")
    for nic in spec.networks:
        if nic.kind is not NetworkKind.NONE and not nic.source:
            raise SpecError(f"A {nic.kind} NIC needs a source (a network, bridge or interface).")
        if nic.mac is not None:
            check_mac(nic.mac)
    if spec.firmware is Firmware.BIOS and spec.os.needs_uefi:
        raise SpecError(f"{spec.os.name} needs UEFI firmware; choose UEFI.")


def with_macs(spec: NewGuest, rng: random.Random | None = None) -> NewGuest:
    """The spec with a generated MAC on every NIC that has none (done once, before the
    summary, so the XML shown is the XML defined)."""
    nics = tuple(
        nic if nic.kind is NetworkKind.NONE or nic.mac else replace(nic, mac=generate_mac(rng))
        for nic in spec.networks
    )
    return replace(spec, networks=nics)


# -- the domain XML ---------------------------------------------------------------------


def _element(tag: str, attrib: dict[str, str] | None = None, *children: ET.Element,
             text: str | None = None) -> ET.Element:  # fmt: skip
    element = ET.Element(tag, {k: v for k, v in (attrib or {}).items() if v is not None})
    element.text = text
    element.extend(children)
    return element


def _source(ref: VolumeRef) -> tuple[str, ET.Element]:
    """A disk's type and ``<source>`` for a volume or a path."""
    if ref.pool and ref.name:
        return "volume", _element("source", {"pool": ref.pool, "volume": ref.name})
    path = str(ref.path)
    if path.startswith("/dev/"):
        return "block", _element("source", {"dev": path})
    return "file", _element("source", {"file": path})


def _disk(disk_type: str, source: ET.Element, fmt: str | None, target: str, bus: str,
          *, device: str = "disk", readonly: bool = False) -> ET.Element:  # fmt: skip
    driver = {"name": "qemu", "type": fmt} if fmt else {"name": "qemu"}
    element = _element(
        "disk",
        {"type": disk_type, "device": device},
        _element("driver", driver),
        source,
        _element("target", {"dev": target, "bus": bus}),
    )
    if readonly:
        element.append(_element("readonly"))
    return element


def _add(domain: Domain, element: ET.Element) -> Device:
    """Add a device built here (ElementTree: only the domain model parses with lxml)."""
    return domain.add_device(ET.tostring(element, encoding="unicode"))


def _target_names(bus: str) -> str:
    return {"virtio": "vd", "sata": "sd", "scsi": "sd"}.get(bus, "sd")


def _letters(index: int) -> str:
    return chr(ord("a") + index) if index < 26 else "a" + chr(ord("a") + index - 26)


def disk_formats(spec: NewGuest, image_formats: dict[int, str] | None = None) -> list[str | None]:
    """The driver format of each disk: a new volume's own; an imported one's from
    ``image_formats`` (read from the host), else left to libvirt."""
    known = image_formats or {}
    formats: list[str | None] = []
    for index, disk in enumerate(spec.disks):
        if disk.kind is DiskKind.OVERLAY:
            formats.append("qcow2")
        elif disk.kind is DiskKind.IMPORT:
            formats.append(known.get(index))
        else:
            formats.append(disk.format)
    return formats


def domain_xml(spec: NewGuest, image_formats: dict[int, str] | None = None) -> str:
    """The new guest's domain XML, written through the domain model."""
    domain = Domain.from_xml(f"<domain type='{spec.domain_type}'>\n</domain>")
    domain.name = spec.name
    domain.set_memory(spec.memory_mib * 1024)
    domain.set_vcpus(spec.vcpus)
    domain.os_type = "hvm"
    domain.arch = spec.arch
    domain.machine = spec.machine_type
    if spec.firmware is Firmware.UEFI:
        domain.firmware = "efi"
    if spec.direct_boot is not None:
        domain.kernel = spec.direct_boot.kernel
        domain.initrd = spec.direct_boot.initrd
        domain.cmdline = spec.direct_boot.cmdline
    domain.acpi = True
    domain.apic = True
    if spec.domain_type == "kvm":
        domain.cpu_mode = "host-passthrough"
    domain.clock_offset = "utc"
    bus = spec.disk_bus
    prefix = _target_names(bus)
    boot: list[Device] = []
    used = 0
    if spec.cdrom is not None:  # the installer boots first
        disk_type, source = _source(spec.cdrom)
        cdrom_bus = "sata" if spec.machine_type == "q35" else "ide"
        cd = _add(
            domain,
            _disk(
                disk_type,
                source,
                "raw",
                "sda" if cdrom_bus == "sata" else "hdc",
                cdrom_bus,
                device="cdrom",
                readonly=True,
            ),
        )
        boot.append(cd)
        if prefix == "sd":
            used += 1
    formats = disk_formats(spec, image_formats)
    for index, disk in enumerate(spec.disks):
        if disk.kind is DiskKind.IMPORT:
            assert disk.source is not None
            disk_type, source = _source(disk.source)
        else:
            assert disk.pool is not None
            disk_type, source = _source(VolumeRef(disk.pool, spec.volume_name(index)))
        added = _add(
            domain, _disk(disk_type, source, formats[index], f"{prefix}{_letters(used)}", bus)
        )
        used += 1
        if index == 0:
            boot.append(added)
    if spec.seed is not None:
        disk_type, source = _source(spec.seed.volume)
        if spec.seed.bus is SeedBus.SCSI:
            _add(domain, _element("controller", {"type": "scsi", "model": "virtio-scsi"}))
            _add(
                domain,
                _disk(disk_type, source, "raw", "sdz", "scsi", device="cdrom", readonly=True),
            )
        else:
            _add(
                domain,
                _disk(
                    disk_type,
                    source,
                    "raw",
                    f"vd{_letters(max(used, 25))}",
                    "virtio",
                    readonly=True,
                ),
            )
        if spec.seed.detach_after_first_boot:
            mark_seed_detach(domain)
    for nic in spec.networks:
        if nic.kind is NetworkKind.NONE:
            continue
        source_attr = {
            NetworkKind.NETWORK: {"network": nic.source or ""},
            NetworkKind.BRIDGE: {"bridge": nic.source or ""},
            NetworkKind.DIRECT: {"dev": nic.source or "", "mode": "bridge"},
        }[nic.kind]
        children = [_element("source", source_attr), _element("model", {"type": nic.model})]
        if nic.mac:
            children.insert(0, _element("mac", {"address": nic.mac}))
        _add(domain, _element("interface", {"type": str(nic.kind)}, *children))
    _add(domain, _element("serial", {"type": "pty"}, _element("target", {"port": "0"})))
    _add(
        domain,
        _element("console", {"type": "pty"}, _element("target", {"type": "serial", "port": "0"})),
    )
    _add(
        domain,
        _element(
            "channel",
            {"type": "unix"},
            _element("target", {"type": "virtio", "name": AGENT_CHANNEL_NAME}),
        ),
    )
    if spec.graphics:
        _add(domain, _element("graphics", {"type": "vnc", "autoport": "yes"}))
        _add(domain, _element("video", {}, _element("model", {"type": "virtio"})))
    else:
        _add(domain, _element("video", {}, _element("model", {"type": "none"})))
    _add(domain, _element("memballoon", {"model": "virtio" if spec.os.virtio else "none"}))
    _add(
        domain,
        _element(
            "rng",
            {"model": "virtio"},
            _element("backend", {"model": "random"}, text="/dev/urandom"),
        ),
    )
    if len(boot) > 1 or spec.cdrom is not None:
        domain.set_boot_order(boot)
    elif spec.direct_boot is None:
        first = ["network"] if spec.boot_network or not spec.disks else []
        domain.set_boot_devices(first + (["hd"] if spec.disks else []))
    return domain.to_xml()


# -- the equivalent command lines -------------------------------------------------------


def _size_g(size_bytes: int) -> str:
    return f"{size_bytes / GIB:g}"


def volume_commands(spec: NewGuest, uri: str | None, image_paths: dict[int, str]) -> list[str]:
    """The ``virsh`` lines that make the new volumes (virt-install cannot make overlays
    on a pool volume by name, nor copy one)."""
    connect = ["virsh"] + (["-c", uri] if uri else [])
    lines: list[str] = []
    for index, disk in enumerate(spec.disks):
        if not disk.creates_volume:
            continue
        name = spec.volume_name(index)
        size = f"{disk.size_bytes or 0}b"
        if disk.kind is DiskKind.EMPTY:
            argv = [*connect, "vol-create-as", str(disk.pool), name, size,
                    "--format", disk.format]  # fmt: skip
            if disk.preallocate:
                argv += ["--allocation", size]
        elif disk.kind is DiskKind.OVERLAY:
            argv = [*connect, "vol-create-as", str(disk.pool), name, size, "--format", "qcow2",
                    "--backing-vol", image_paths.get(index, disk.source.text if disk.source
                                                      else ""),
                    "--backing-vol-format", "qcow2"]  # fmt: skip
        else:
            assert disk.source is not None
            argv = [*connect, "vol-clone", "--pool", str(disk.source.pool or disk.pool),
                    str(disk.source.name or disk.source.path), name]  # fmt: skip
        lines.append(shlex.join(argv))
    return lines


def upload_commands(
    uri: str | None, pool: str, name: str, path: str, capacity_bytes: int, fmt: str
) -> str:
    """The ``virsh`` lines that upload a local image file into a pool as ``name``."""
    connect = ["virsh"] + (["-c", uri] if uri else [])
    return "\n".join([
        shlex.join([*connect, "vol-create-as", pool, name, f"{capacity_bytes}b",
                    "--format", fmt]),
        shlex.join([*connect, "vol-upload", "--pool", pool, name, path]),
    ])  # fmt: skip


def virt_install_command(spec: NewGuest, uri: str | None) -> str:
    """The ``virt-install`` line that defines the same guest from the same volumes."""
    argv = ["virt-install"]
    if uri:
        argv += ["--connect", uri]
    argv += [
        "--name", spec.name,
        "--osinfo", spec.os.short_id if spec.os.id != GENERIC_LINUX.id else "linux2022",
        "--virt-type", spec.domain_type,
        "--arch", spec.arch,
        "--machine", spec.machine_type,
        "--vcpus", str(spec.vcpus),
        "--memory", str(spec.memory_mib),
    ]  # fmt: skip
    boot: list[str] = []
    if spec.firmware is Firmware.UEFI:
        boot.append("uefi")
    if spec.direct_boot is not None:
        boot.append(f"kernel={spec.direct_boot.kernel}")
        if spec.direct_boot.initrd:
            boot.append(f"initrd={spec.direct_boot.initrd}")
        if spec.direct_boot.cmdline:
            boot.append(f"kernel_args={spec.direct_boot.cmdline}")
    if boot:
        argv += ["--boot", ",".join(boot)]
    bus = spec.disk_bus
    if spec.cdrom is not None:
        argv += ["--disk", f"{_disk_arg(spec.cdrom)},device=cdrom,boot.order=1"]
    for index, disk in enumerate(spec.disks):
        ref = disk.source if disk.kind is DiskKind.IMPORT else None
        ref = ref or VolumeRef(disk.pool, spec.volume_name(index))
        order = f",boot.order={2 if spec.cdrom is not None else 1}" if index == 0 else ""
        argv += ["--disk", f"{_disk_arg(ref)},bus={bus}{order}"]
    if spec.seed is not None:
        if spec.seed.bus is SeedBus.SCSI:
            argv += ["--controller", "scsi,model=virtio-scsi"]
            argv += ["--disk", f"{_disk_arg(spec.seed.volume)},device=cdrom,bus=scsi"]
        else:
            argv += ["--disk", f"{_disk_arg(spec.seed.volume)},bus=virtio,readonly=on"]
    nics = [n for n in spec.networks if n.kind is not NetworkKind.NONE]
    for nic in nics:
        kind = {"network": "network", "bridge": "bridge", "direct": "type=direct,source"}[nic.kind]
        text = f"{kind}={nic.source},model={nic.model}"
        if nic.kind is NetworkKind.DIRECT:
            text += ",source.mode=bridge"
        argv += ["--network", text + (f",mac={nic.mac}" if nic.mac else "")]
    if not nics:
        argv += ["--network", "none"]
    argv += ["--graphics", "vnc" if spec.graphics else "none"]
    argv += ["--console", "pty,target_type=serial"]
    argv += ["--channel", f"unix,target.type=virtio,target.name={AGENT_CHANNEL_NAME}"]
    argv += ["--pxe"] if spec.boot_network else ["--import"]
    argv.append("--noautoconsole")
    if not spec.start:
        argv.append("--noreboot")
    return shlex.join(argv)


def _disk_arg(ref: VolumeRef) -> str:
    return f"vol={ref.pool}/{ref.name}" if ref.pool and ref.name else f"path={ref.path}"


def command_lines(spec: NewGuest, uri: str | None, image_paths: dict[int, str]) -> str:
    """The volumes' virsh lines, then the virt-install line: a script to keep."""
    return "\n".join([*volume_commands(spec, uri, image_paths), virt_install_command(spec, uri)])
