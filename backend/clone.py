"""Clone a shut-off guest: a new guest with its own name, UUID and MACs, and disks that
are full copies or linked clones (qcow2 overlays on the source's disks), as a job.

What the clone must not share with its source is cleared or made anew: the UUID, each
NIC's MAC and host-side device name, the agent's (and any named channel's) socket path,
the serial and console log files and file-backed serial ports (renamed after the new
guest), fixed graphics ports (libvirt picks free ones), the NVRAM (copied; for a guest
with ``firmware='efi'`` and no ``<nvram>`` in its definition, the file libvirt made for
it at its first start, see :func:`nvram_path`). Shareable
and read-only disks and CD-ROMs are shared. Every other disk must be a volume of a
storage pool (a plain path is looked up in the pool over its folder), so the copy goes
through libvirt and works on remote hosts as on the local one.

Everything that can be refused is refused before anything is made: a read-only
connection, a running guest (its disks change while they are read), a linked clone of
a paused one (it would go on writing to the base), a disk outside any pool, a bad or
taken name, a pool that is not running or has too little space. A failure halfway
removes what the job made so far (volumes, NVRAM copy, definition), newest first.
"""

from __future__ import annotations

import contextlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import libvirt

from kvmtui.backend import errors
from kvmtui.backend.domain import Disk, Domain
from kvmtui.backend.domain.build import new_mac
from kvmtui.backend.domain.notes import forget_linked_clones
from kvmtui.backend.host import Host
from kvmtui.backend.throttle import binary_text

#: How often a copy's progress is read (the new volume's allocation).
POLL_S = 0.5
#: Where the system QEMU driver keeps the NVRAM it makes from the template for a guest
#: with firmware='efi' and no <nvram> path: ``DIR/NAME_VARS.fd``. libvirt 9.0 fills the
#: path in at each start and does not save it in the definition.
SYSTEM_NVRAM_DIR = "/var/lib/libvirt/qemu/nvram"
_VOLUME_CHARS = re.compile(r"[^A-Za-z0-9._+-]+")


class Mode(StrEnum):
    FULL = "full"  # each disk copied whole (createXMLFrom)
    LINKED = "linked"  # each disk a qcow2 overlay on the source's disk


class DiskAction(StrEnum):
    COPY = "copy"  # copied, or an overlay made, per the mode
    SHARE = "share"  # the clone uses the same disk
    EMPTY = "empty"  # a drive with no medium: nothing to do


class CloneValueError(errors.KvmtuiError):
    """A clone kvmtui will not make; nothing was changed."""


@dataclass(frozen=True, slots=True)
class DiskPlan:
    """One disk of the source and what the clone gets for it."""

    target: str  # vda
    source: str | None  # a path, or pool/volume
    action: DiskAction
    why: str = ""  # why shared: "shareable", "read-only", "CD-ROM"
    pool: str | None = None
    volume: str | None = None
    path: str | None = None  # the volume's path on the host
    format: str | None = None
    capacity: int = 0
    allocation: int = 0

    def summary(self, mode: Mode) -> str:
        if self.action is DiskAction.EMPTY:
            return f"{self.target}: no medium"
        if self.action is DiskAction.SHARE:
            return f"{self.target}: {self.source} shared ({self.why})"
        size = binary_text(self.capacity, "B") if self.capacity else "?"
        what = "copied" if mode is Mode.FULL else "overlay on it"
        return f"{self.target}: {self.volume} in {self.pool}, {self.format or 'raw'} {size}, {what}"


@dataclass(frozen=True, slots=True)
class PoolChoice:
    name: str
    available: int


@dataclass(frozen=True, slots=True)
class CloneSource:
    """What the clone form shows and the job checks: the source and the host's pools."""

    host: str
    uuid: str
    name: str
    state: int  # libvirt's VIR_DOMAIN_* state
    disks: tuple[DiskPlan, ...]
    pools: tuple[PoolChoice, ...]
    taken: frozenset[str] = field(default_factory=frozenset)  # guest names on the host
    nvram: str | None = None
    nvram_made_at_start: bool = False  # the path is libvirt's default: absent until a start
    refusal: str | None = None  # why no clone can be made now
    disk_refusal: str | None = None  # a disk kvmtui cannot copy

    @property
    def paused(self) -> bool:
        return self.state == libvirt.VIR_DOMAIN_PAUSED

    @property
    def copies(self) -> tuple[DiskPlan, ...]:
        return tuple(d for d in self.disks if d.action is DiskAction.COPY)

    @property
    def linked_refusal(self) -> str | None:
        """Why no linked clone (None: one may be made)."""
        if self.paused:
            return "the guest is paused: it would go on writing to the base"
        return None

    @property
    def warning(self) -> str | None:
        if self.paused:
            return (
                f"'{self.name}' is paused: its disks are copied as they are on the host, "
                "without what the guest has not written yet. Shut it down for a clean copy."
            )
        return None

    @property
    def default_pool(self) -> str | None:
        first = next((d.pool for d in self.copies if d.pool), None)
        return first or (self.pools[0].name if self.pools else None)

    def suggested_name(self) -> str:
        name = f"{self.name}-clone"
        number = 2
        while name in self.taken:
            name = f"{self.name}-clone{number}"
            number += 1
        return name

    def needed_bytes(self, mode: Mode) -> int:
        """What the copies take in their pool at first (overlays: next to nothing)."""
        return sum(d.allocation for d in self.copies) if mode is Mode.FULL else 0


@dataclass(frozen=True, slots=True)
class CloneRequest:
    name: str
    mode: Mode = Mode.FULL
    pool: str | None = None  # where copies and overlays go; None: each disk's own pool


# -- names ------------------------------------------------------------------------------


def volume_base_name(guest: str) -> str:
    """The guest's name as the start of a volume name (letters, digits, . _ + -)."""
    cleaned = _VOLUME_CHARS.sub("-", guest).strip("-._+")
    return cleaned or "clone"


def new_volume_name(
    guest: str, disk: DiskPlan, first: bool, mode: Mode, taken: set[str]
) -> str:
    """``NAME.qcow2`` for the first disk, ``NAME-vdb.qcow2`` for others; a free one."""
    suffix = PurePosixPath(disk.volume or "").suffix
    if mode is Mode.LINKED or disk.format == "qcow2":
        suffix = ".qcow2"
    elif suffix not in (".img", ".raw"):
        suffix = ".img"
    stem = volume_base_name(guest) + ("" if first else f"-{disk.target}")
    name, number = f"{stem}{suffix}", 2
    while name in taken:
        name, number = f"{stem}-{number}{suffix}", number + 1
    return name


# -- reading the source -----------------------------------------------------------------


def _volume_format(vol: libvirt.virStorageVol) -> str | None:
    root = ET.fromstring(vol.XMLDesc(0))
    found = root.find("target/format")
    return found.get("type") if found is not None else None


def pool_over(conn: libvirt.virConnect, folder: str) -> libvirt.virStoragePool | None:
    """A running pool whose target is ``folder``."""
    for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        root = ET.fromstring(pool.XMLDesc(0))
        if root.findtext("target/path") == folder:
            return pool
    return None


def find_volume(conn: libvirt.virConnect, disk: Disk) -> libvirt.virStorageVol | None:
    """The pool volume behind a disk: pool/volume, or a path known to a pool (the pool
    over its folder is refreshed once, for a file made since it was last read)."""
    source = disk.source
    if source is None:
        return None
    if source.pool and source.volume:
        return conn.storagePoolLookupByName(source.pool).storageVolLookupByName(source.volume)
    path = source.file or source.dev
    if not path:
        return None
    try:
        return conn.storageVolLookupByPath(path)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
            raise
    pool = pool_over(conn, str(PurePosixPath(path).parent))
    if pool is None:
        return None
    with contextlib.suppress(libvirt.libvirtError):
        pool.refresh(0)
    try:
        return conn.storageVolLookupByPath(path)
    except libvirt.libvirtError:
        return None


def _plan_disk(conn: libvirt.virConnect, disk: Disk) -> tuple[DiskPlan, str | None]:
    """The plan for one disk, and why it cannot be cloned (None: it can)."""
    target = disk.target or "?"
    text = disk.source_text
    if disk.device in ("cdrom", "floppy"):
        if text is None:
            return DiskPlan(target, None, DiskAction.EMPTY), None
        return DiskPlan(target, text, DiskAction.SHARE, "CD-ROM" if disk.device == "cdrom"
                        else "floppy"), None  # fmt: skip
    if disk.shareable:
        return DiskPlan(target, text, DiskAction.SHARE, "shareable"), None
    if disk.readonly:
        return DiskPlan(target, text, DiskAction.SHARE, "read-only"), None
    if text is None:
        return DiskPlan(target, None, DiskAction.EMPTY), None
    if disk.type not in (None, "file", "block", "volume"):
        return DiskPlan(target, text, DiskAction.COPY), (
            f"disk {target} is a {disk.type} disk ({text}); kvmtui copies only pool volumes"
        )
    vol = find_volume(conn, disk)
    if vol is None:
        return DiskPlan(target, text, DiskAction.COPY), (
            f"disk {target} ({text}) is in no storage pool; define a pool over its folder "
            "(or move it into one) and try again"
        )
    _kind, capacity, allocation = vol.info()
    return DiskPlan(
        target,
        text,
        DiskAction.COPY,
        pool=vol.storagePoolLookupByVolume().name(),
        volume=vol.name(),
        path=vol.path(),
        format=_volume_format(vol) or disk.format,
        capacity=int(capacity),
        allocation=int(allocation),
    ), None


def _refusal(state: int) -> str | None:
    if state in (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_PAUSED):
        return None
    if state == libvirt.VIR_DOMAIN_PMSUSPENDED:
        return "it is suspended by its OS; wake it and shut it down first"
    if state == libvirt.VIR_DOMAIN_CRASHED:
        return "it has crashed and is still active; force it off first"
    return "it is running, and its disks change while they are read; shut it down first"


def read_source(host: Host, uuid: str) -> CloneSource:
    """The guest, what happens to each disk, the host's running pools and guest names."""
    action = "read the guest to clone"
    conn = host.connection(action)
    dom = host.domain(uuid, action)
    name = str(dom.name())
    try:
        state = int(dom.state()[0])
        domain = Domain.from_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        plans = [_plan_disk(conn, disk) for disk in domain.disks]
        pools = []
        for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
            pools.append(PoolChoice(pool.name(), int(pool.info()[3])))
        taken = frozenset(str(d.name()) for d in conn.listAllDomains(0))
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action, guest=name) from exc
    return CloneSource(
        host=host.label,
        uuid=uuid,
        name=name,
        state=state,
        disks=tuple(plan for plan, _why in plans),
        pools=tuple(sorted(pools, key=lambda p: p.name)),
        taken=taken,
        nvram=nvram_path(domain, system=_system(conn)),
        nvram_made_at_start=not domain.nvram,
        refusal=_refusal(state),
        disk_refusal=next((why for _plan, why in plans if why), None),
    )


def _system(conn: libvirt.virConnect) -> bool:
    with contextlib.suppress(libvirt.libvirtError):
        return urlsplit(str(conn.getURI())).path == "/system"
    return False


def nvram_path(domain: Domain, *, system: bool) -> str | None:
    """The guest's NVRAM file: its ``<nvram>``, else (``firmware='efi'`` on the system
    driver) the file libvirt names after the guest when it first starts it."""
    if domain.nvram:
        return domain.nvram
    if domain.firmware == "efi" and system and domain.name:
        return f"{SYSTEM_NVRAM_DIR}/{domain.name}_VARS.fd"
    return None


# -- the clone's definition -------------------------------------------------------------


def _renamed(path: str, old: str, new: str) -> str:
    """A per-guest file path for the clone: the old name replaced, or the new one added."""
    parent = PurePosixPath(path).parent
    leaf = PurePosixPath(path).name
    renamed = leaf.replace(old, new) if old and old in leaf else f"{new}-{leaf}"
    return str(parent / renamed)


def clone_definition(domain: Domain, name: str, new_uuid: str) -> Domain:
    """Edit ``domain`` (the source's parsed saved definition) into the clone's, except
    its disks: new name and UUID, new MACs, nothing per-guest shared. Returns it."""
    old = domain.name or ""
    domain.name = name
    domain.uuid = new_uuid
    forget_linked_clones(domain)
    macs = {i.mac for i in domain.interfaces if i.mac}
    for nic in domain.interfaces:
        fresh = new_mac(macs)
        macs.add(fresh)
        nic.mac = fresh
        if nic.target_managed is not False:  # a hand-made tap stays; others are named anew
            nic.target = None
    for channel in domain.channels:
        if channel.type == "unix" and channel.target_name:
            channel.source_path = None  # libvirt makes one per guest for named channels
    for char in (*domain.serials, *domain.consoles):
        if char.log_file:
            char.log_file = _renamed(char.log_file, old, name)
        if char.type == "file" and char.source_path:
            char.source_path = _renamed(char.source_path, old, name)
    for graphics in domain.graphics:
        graphics.use_free_ports()
    return domain


def point_disk(disk: Disk, vol: libvirt.virStorageVol, pool: str, fmt: str) -> None:
    """Make the clone's disk use the new volume (same kind of source where it can)."""
    source = disk.source
    if source is None:
        raise CloneValueError(f"disk {disk.target} has no source")
    disk.remove("backingStore")
    disk.format = fmt
    if disk.type == "volume":
        source.pool = pool
        source.volume = vol.name()
        return
    block = vol.info()[0] == libvirt.VIR_STORAGE_VOL_BLOCK
    disk.type = "block" if block else "file"
    source.file = None if block else vol.path()
    source.dev = vol.path() if block else None
