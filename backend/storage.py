"""Storage pools and their volumes: what is promised, what is used, who uses it.

Thin provisioning made visible: a pool's volumes may promise more capacity than the
pool has (``Pool.promised_bytes`` against ``Pool.capacity_bytes``), and each volume
holds only its ``allocation_bytes`` of its ``capacity_bytes``. The guest that uses a
volume comes from the domain XMLs (a disk's file or block path, or pool/volume).

Every call here is blocking (RPCs): run it in a worker. Changes are refused on a
read-only connection before libvirt is called, and validated before anything is sent.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar
from xml.sax.saxutils import escape

import libvirt

from kvmtui.backend import errors
from kvmtui.backend.domain import Domain, DomainXmlError
from kvmtui.backend.host import Host

#: Smaller than this is almost surely a missing unit ("10" meaning 10 GiB).
MIN_VOLUME_BYTES = 1024 * 1024
VOLUME_FORMATS = ("qcow2", "raw")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,254}")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGTP]?)(i?B?)", re.IGNORECASE)
T = TypeVar("T")
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


class PoolState(StrEnum):
    INACTIVE = "inactive"
    BUILDING = "building"
    RUNNING = "running"
    DEGRADED = "degraded"
    INACCESSIBLE = "inaccessible"


_POOL_STATES = {
    libvirt.VIR_STORAGE_POOL_INACTIVE: PoolState.INACTIVE,
    libvirt.VIR_STORAGE_POOL_BUILDING: PoolState.BUILDING,
    libvirt.VIR_STORAGE_POOL_RUNNING: PoolState.RUNNING,
    libvirt.VIR_STORAGE_POOL_DEGRADED: PoolState.DEGRADED,
    libvirt.VIR_STORAGE_POOL_INACCESSIBLE: PoolState.INACCESSIBLE,
}


@dataclass(frozen=True, slots=True)
class VolumeUser:
    """A guest with a disk on the volume; ``running`` guests hold it open."""

    name: str
    running: bool


@dataclass(frozen=True, slots=True)
class Volume:
    pool: str
    name: str
    path: str
    format: str | None  # qcow2, raw, iso...; None when the pool does not say
    capacity_bytes: int
    allocation_bytes: int
    users: tuple[VolumeUser, ...] = ()

    @property
    def allocated_ratio(self) -> float | None:
        """Allocation on disk against capacity: low for a thin volume."""
        return self.allocation_bytes / self.capacity_bytes if self.capacity_bytes else None

    @property
    def used_by(self) -> str | None:
        return ", ".join(u.name for u in self.users) or None


@dataclass(frozen=True, slots=True)
class Pool:
    host: str
    name: str
    uuid: str
    type: str
    state: PoolState
    autostart: bool
    persistent: bool
    capacity_bytes: int
    allocation_bytes: int
    available_bytes: int
    path: str | None
    volumes: tuple[Volume, ...] = ()

    @property
    def active(self) -> bool:
        return self.state is PoolState.RUNNING

    @property
    def promised_bytes(self) -> int:
        """What the volumes promise their guests: the sum of their capacities."""
        return sum(v.capacity_bytes for v in self.volumes)

    @property
    def promised_ratio(self) -> float | None:
        """Promised against the pool's real capacity; above 1 the pool is overcommitted."""
        return self.promised_bytes / self.capacity_bytes if self.capacity_bytes else None

    def volume(self, name: str) -> Volume | None:
        return next((v for v in self.volumes if v.name == name), None)


# -- validation -------------------------------------------------------------------------


class StorageValueError(errors.KvmtuiError):
    """A name or size kvmtui will not send; nothing was changed."""


def parse_size(text: str) -> int:
    """``1G``, ``512MiB``, ``1.5 GB``, ``1073741824`` as bytes (binary units throughout)."""
    typed = text.strip()
    match = _SIZE.fullmatch(typed)
    if not typed or match is None:
        raise StorageValueError(
            f"'{typed}' is not a size; type a number with a unit, e.g. 10G or 512M."
        )
    number, unit, _ = match.groups()
    size = int(float(number) * _UNITS[unit.upper()])
    if size < MIN_VOLUME_BYTES:
        raise StorageValueError(
            f"{typed} is less than 1 MiB; did you mean {typed}G? Type the unit, e.g. 10G."
        )
    return size


def validate_name(name: str, pool: Pool | None = None) -> str:
    typed = name.strip()
    if not _NAME.fullmatch(typed):
        raise StorageValueError(
            f"'{typed}' is not a volume name kvmtui creates: use letters, digits, '.', '_', "
            "'+' and '-', starting with a letter or digit, at most 255 characters."
        )
    if pool is not None and pool.volume(typed) is not None:
        raise StorageValueError(f"Pool '{pool.name}' already has a volume named '{typed}'.")
    return typed


def volume_xml(
    name: str, capacity_bytes: int, fmt: str, *, sparse: bool = True, allocation: int | None = None
) -> str:
    """The XML of a new volume; sparse allocates nothing up front, ``allocation`` says how
    much (an upload's file size)."""
    if fmt not in VOLUME_FORMATS:
        raise StorageValueError(f"'{fmt}' is not a format kvmtui creates (qcow2 or raw).")
    if allocation is None:
        allocation = 0 if sparse else capacity_bytes
    return (
        "<volume>"
        f"<name>{escape(name)}</name>"
        f"<capacity unit='bytes'>{capacity_bytes}</capacity>"
        f"<allocation unit='bytes'>{allocation}</allocation>"
        f"<target><format type='{fmt}'/></target>"
        "</volume>"
    )


# -- reading ----------------------------------------------------------------------------


def volume_users(conn: libvirt.virConnect) -> dict[str, tuple[VolumeUser, ...]]:
    """Guests by disk source (file path, device path or ``pool/volume``), from domain XMLs.

    Both a running guest's live XML and its next-boot XML count.
    """
    users: dict[str, dict[str, VolumeUser]] = {}
    for dom in conn.listAllDomains(0):
        running = bool(dom.isActive())
        xmls = [dom.XMLDesc(0)]
        if running and dom.isPersistent():
            xmls.append(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        for xml in xmls:
            try:
                disks = Domain.from_xml(xml).disks
            except DomainXmlError:
                continue
            for disk in disks:
                if disk.source_text:
                    users.setdefault(disk.source_text, {})[dom.name()] = VolumeUser(
                        dom.name(), running
                    )
    return {source: tuple(sorted(by_name.values(), key=lambda u: u.name))
            for source, by_name in users.items()}  # fmt: skip


def _volume(
    pool_name: str, vol: libvirt.virStorageVol, users: Mapping[str, tuple[VolumeUser, ...]]
) -> Volume:
    _kind, capacity, allocation = vol.info()
    path = vol.path()
    fmt: str | None = None
    try:
        target = ET.fromstring(vol.XMLDesc(0)).find("target/format")
        fmt = target.get("type") if target is not None else None
    except ET.ParseError:
        fmt = None
    found = users.get(path, ()) + users.get(f"{pool_name}/{vol.name()}", ())
    return Volume(
        pool=pool_name,
        name=vol.name(),
        path=path,
        format=fmt,
        capacity_bytes=int(capacity),
        allocation_bytes=int(allocation),
        users=tuple(dict.fromkeys(found)),
    )


def _pool(
    label: str, pool: libvirt.virStoragePool, users: Mapping[str, tuple[VolumeUser, ...]]
) -> Pool:
    state, capacity, allocation, available = pool.info()
    root = ET.fromstring(pool.XMLDesc(0))
    state_name = _POOL_STATES.get(state, PoolState.INACCESSIBLE)
    volumes: Iterable[libvirt.virStorageVol] = (
        pool.listAllVolumes(0) if state_name is PoolState.RUNNING else ()
    )
    name = pool.name()
    return Pool(
        host=label,
        name=name,
        uuid=pool.UUIDString(),
        type=root.get("type", "?"),
        state=state_name,
        autostart=bool(pool.autostart()),
        persistent=bool(pool.isPersistent()),
        capacity_bytes=int(capacity),
        allocation_bytes=int(allocation),
        available_bytes=int(available),
        path=root.findtext("target/path"),
        volumes=tuple(sorted((_volume(name, v, users) for v in volumes), key=lambda v: v.name)),
    )


def list_pools(host: Host) -> tuple[Pool, ...]:
    """Every pool of the host with its volumes and their users, sorted by name."""
    action = "list storage pools"
    conn = host.connection(action)
    try:
        users = volume_users(conn)
        pools = [_pool(host.label, p, users) for p in conn.listAllStoragePools(0)]
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action) from exc
    return tuple(sorted(pools, key=lambda p: p.name))


def read_pool(host: Host, pool_name: str) -> Pool:
    action = f"read storage pool '{pool_name}'"
    conn = host.connection(action)
    try:
        return _pool(host.label, conn.storagePoolLookupByName(pool_name), volume_users(conn))
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action) from exc


# -- actions ----------------------------------------------------------------------------


def lookup_pool(host: Host, pool_name: str, action: str) -> libvirt.virStoragePool:
    conn = host.connection(action)
    try:
        return conn.storagePoolLookupByName(pool_name)
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action) from exc


def call_libvirt(host: Host, action: str, call: Callable[..., T], *args: object) -> T:
    try:
        return call(*args)
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action) from exc


def refresh_pool(host: Host, pool_name: str) -> Pool:
    """Re-scan the pool's target (volumes made outside libvirt appear)."""
    action = f"refresh storage pool '{pool_name}'"
    host.require_writable(action)
    pool = lookup_pool(host, pool_name, action)
    call_libvirt(host, action, pool.refresh, 0)
    return read_pool(host, pool_name)


def start_pool(host: Host, pool_name: str) -> Pool:
    action = f"start storage pool '{pool_name}'"
    host.require_writable(action)
    pool = lookup_pool(host, pool_name, action)
    call_libvirt(host, action, pool.create, 0)
    return read_pool(host, pool_name)


def stop_pool(host: Host, pool_name: str) -> Pool:
    """Deactivate the pool (its volumes stay on disk; running guests keep their files open)."""
    action = f"stop storage pool '{pool_name}'"
    host.require_writable(action)
    pool = lookup_pool(host, pool_name, action)
    call_libvirt(host, action, pool.destroy)
    return read_pool(host, pool_name)


def create_volume(
    host: Host, pool_name: str, name: str, capacity: str, fmt: str = "qcow2", *, sparse: bool = True
) -> Volume:
    """A new volume; the name and size are checked before libvirt hears of it."""
    action = f"create volume '{name.strip()}' in pool '{pool_name}'"
    host.require_writable(action)
    current = read_pool(host, pool_name)
    checked_name = validate_name(name, current)
    size = parse_size(capacity)
    if not current.active:
        raise StorageValueError(f"Could not {action} on {host.label}: the pool is not running.")
    if not sparse and size > current.available_bytes:
        raise StorageValueError(
            f"Could not {action} on {host.label}: a fully allocated volume of {size} bytes "
            f"needs more than the {current.available_bytes} bytes available."
        )
    xml = volume_xml(checked_name, size, fmt, sparse=sparse)
    pool = lookup_pool(host, pool_name, action)
    call_libvirt(host, action, pool.createXML, xml, 0)
    made = read_pool(host, pool_name).volume(checked_name)
    if made is None:
        raise errors.OperationError(f"Could not {action} on {host.label}: it did not appear.")
    return made


def resize_volume(host: Host, pool_name: str, name: str, capacity: str) -> Volume:
    """Grow a volume. Shrinking (which loses data) and resizing under a running guest
    (QEMU holds the image; use a live block resize) are refused."""
    action = f"resize volume '{name}' in pool '{pool_name}'"
    host.require_writable(action)
    size = parse_size(capacity)
    current = read_pool(host, pool_name).volume(name)
    if current is None:
        raise StorageValueError(f"Could not {action} on {host.label}: there is no such volume.")
    running = [u.name for u in current.users if u.running]
    if running:
        raise StorageValueError(
            f"Could not {action} on {host.label}: running guest {', '.join(running)} uses it; "
            "shut the guest down first."
        )
    if size < current.capacity_bytes:
        raise StorageValueError(
            f"Could not {action} on {host.label}: {size} bytes is smaller than its "
            f"{current.capacity_bytes} bytes; kvmtui only grows volumes (shrinking loses data)."
        )
    pool = lookup_pool(host, pool_name, action)
    vol = call_libvirt(host, action, pool.storageVolLookupByName, name)
    call_libvirt(host, action, vol.resize, size, 0)
    after = read_pool(host, pool_name).volume(name)
    if after is None:
        raise errors.OperationError(f"Could not {action} on {host.label}: it disappeared.")
    return after


def delete_volume(host: Host, pool_name: str, name: str) -> Pool:
    """Delete a volume no guest uses; returns the pool after."""
    action = f"delete volume '{name}' in pool '{pool_name}'"
    host.require_writable(action)
    current = read_pool(host, pool_name).volume(name)
    if current is None:
        raise StorageValueError(f"Could not {action} on {host.label}: there is no such volume.")
    if current.users:
        raise StorageValueError(
            f"Could not {action} on {host.label}: guest {current.used_by} uses it; "
            "remove the disk from the guest first."
        )
    pool = lookup_pool(host, pool_name, action)
    vol = call_libvirt(host, action, pool.storageVolLookupByName, name)
    call_libvirt(host, action, vol.delete, 0)
    return read_pool(host, pool_name)
