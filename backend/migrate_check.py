"""Pre-flight of a migration: everything that can be refused before anything is sent.

Each failure is one sentence: a read-only end, the same host twice, a CPU the
destination cannot run, a guest with the same name or UUID there, a disk that is
neither reachable there nor copied, a network or bridge missing there, and options
that do not go together. :func:`check` only reads (it may refresh a destination pool
over a disk's directory so that a file made there lately is seen).

libvirt has no remote stat: a disk is known to be on the destination only through a
storage pool there (``storageVolLookupByPath``, after refreshing a pool over its
directory). A pool over the directory that does not hold the file is a refusal; a
directory no pool covers there cannot be checked at all, which is a warning the admin
sees in the dialog before confirming (it must be shared storage at the same path), not
a silent pass.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import libvirt

from kvmtui.backend import uri as uris
from kvmtui.backend.domain import Domain
from kvmtui.backend.migrate_options import CopyStorage, MigrationOptions

_CPU_INCOMPATIBLE = libvirt.VIR_CPU_COMPARE_INCOMPATIBLE


@dataclass(frozen=True, slots=True)
class Destination:
    """The other end: a connected host of the list, or a URI typed in and opened."""

    label: str
    uri: str
    readonly: bool
    conn: libvirt.virConnect


@dataclass(frozen=True, slots=True)
class Disk:
    target: str  # vda
    path: str
    fmt: str  # qcow2, raw
    readonly: bool


@dataclass(frozen=True, slots=True)
class Preflight:
    """What the pre-flight found: refusals, and warnings the admin must see first."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def disks_of(domain: Domain) -> list[Disk]:
    """The guest's file and block disks (cdroms and read-only disks marked)."""
    found = []
    for disk in domain.disks:
        source = disk.source
        path = (source.file or source.dev) if source is not None else None
        if not path or not disk.target:
            continue
        readonly = disk.device == "cdrom" or disk.readonly
        found.append(Disk(disk.target, path, disk.format or "raw", readonly))
    return found


def host_uuid(conn: libvirt.virConnect) -> str | None:
    node = ET.fromstring(conn.getCapabilities()).find("host/uuid")
    return node.text if node is not None else None


def _options_problems(options: MigrationOptions, running: bool, dest: Destination) -> list[str]:
    problems = []
    if options.live and not running:
        problems.append("The guest is not running: a live migration needs it running; "
                        "choose offline to move its definition.")  # fmt: skip
    if not options.live and running:
        problems.append("An offline migration moves only the definition: shut the guest "
                        "down first, or choose live.")  # fmt: skip
    if not options.live and not options.persistent:
        problems.append("An offline migration needs 'persistent on the destination' on.")
    if not options.live and options.copy_storage is not CopyStorage.NONE:
        problems.append("Copy storage needs a live migration of a running guest.")
    if (options.peer_to_peer or options.tunnelled) and not uris.is_remote(dest.uri):
        problems.append(f"Peer-to-peer needs a URI the source host can reach; {dest.uri} "
                        "would name the source host itself.")  # fmt: skip
    if options.postcopy and options.copy_storage is not CopyStorage.NONE:
        problems.append("Post-copy cannot be combined with copy storage.")
    return problems


def _cpu_problem(src: libvirt.virConnect, domain: Domain, dest: Destination) -> str | None:
    cpu_xml = domain.cpu_xml
    try:
        if cpu_xml is not None and domain.cpu_mode == "host-passthrough":
            host_cpu = ET.fromstring(src.getCapabilities()).find("host/cpu")
            if host_cpu is None:
                return None
            result = dest.conn.compareCPU(ET.tostring(host_cpu, encoding="unicode"), 0)
        elif cpu_xml is not None and domain.cpu_model is not None:
            result = dest.conn.compareHypervisorCPU(
                None, domain.arch, domain.machine, domain.hypervisor, cpu_xml, 0
            )
        else:
            return None  # the hypervisor's default CPU: the same QEMU on both ends decides
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_OPERATION_INVALID):
            return None  # cannot compare here; libvirt checks again while migrating
        return f"{dest.label} could not compare the guest's CPU: {exc.get_error_message()}."
    if result == _CPU_INCOMPATIBLE:
        return f"{dest.label}'s CPU cannot run the guest's CPU model (compareCPU: incompatible)."
    return None


def _clash(dom: libvirt.virDomain, dest: Destination) -> str | None:
    for lookup, what in ((dest.conn.lookupByName, dom.name()), (dest.conn.lookupByUUIDString,
                                                                 dom.UUIDString())):  # fmt: skip
        try:
            other = lookup(what)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                continue
            raise
        if other.name() == dom.name():
            return (f"A guest named '{dom.name()}' already exists on {dest.label}: remove or "
                    "rename it there first.")  # fmt: skip
        return (f"A guest with the same UUID ('{other.name()}') already exists on "
                f"{dest.label}: remove it there first.")  # fmt: skip
    return None


def pool_over(conn: libvirt.virConnect, directory: str) -> libvirt.virStoragePool | None:
    """An active pool on CONN whose target path is DIRECTORY."""
    for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        path = ET.fromstring(pool.XMLDesc(0)).findtext("target/path")
        if path and os.path.normpath(path) == os.path.normpath(directory):
            return pool
    return None


def _reachable(dest: Destination, path: str) -> bool | None:
    """Whether the destination holds ``path``: True or False when a pool there tells,
    None when none covers its directory (libvirt cannot look at a plain path remotely)."""
    try:
        dest.conn.storageVolLookupByPath(path)
        return True
    except libvirt.libvirtError:
        pass
    pool = pool_over(dest.conn, os.path.dirname(path))
    if pool is None:
        return None
    if dest.readonly:
        return False  # cannot refresh it; the read-only end is refused anyway
    try:
        pool.refresh(0)  # a file made there since the pool last looked
        dest.conn.storageVolLookupByPath(path)
        return True
    except libvirt.libvirtError:
        return False


def _disk_problems(disks: list[Disk], options: MigrationOptions, dest: Destination) -> Preflight:
    found = Preflight()
    problems = found.problems
    copying = options.copy_storage is not CopyStorage.NONE
    if copying and options.dest_pool:
        try:
            pool = dest.conn.storagePoolLookupByName(options.dest_pool)
            if not pool.isActive():
                problems.append(f"Pool '{options.dest_pool}' on {dest.label} is not running.")
        except libvirt.libvirtError:
            problems.append(f"{dest.label} has no storage pool named '{options.dest_pool}'.")
    for disk in disks:
        if copying and not disk.readonly:
            if not options.dest_pool and pool_over(dest.conn, os.path.dirname(disk.path)) is None:
                problems.append(f"Disk {disk.target}: {dest.label} has no storage pool over "
                                f"{os.path.dirname(disk.path)} for its copy; choose a "
                                "destination pool.")  # fmt: skip
            continue
        reachable = _reachable(dest, disk.path)
        if reachable is None:
            found.warnings.append(
                f"Disk {disk.target} ({disk.path}) cannot be checked on {dest.label} (no "
                f"storage pool there covers {os.path.dirname(disk.path)}): it must be shared "
                "storage at the same path, or choose copy storage."
            )
        elif not reachable:
            problems.append(
                f"Disk {disk.target} ({disk.path}) is not on {dest.label}: the storage pool "
                f"there over {os.path.dirname(disk.path)} does not hold it. Put it on shared "
                "storage, or choose copy storage."
            )
    return found


def _network_problems(domain: Domain, dest: Destination) -> list[str]:
    problems = []
    for nic in domain.interfaces:
        if nic.type == "network" and nic.source_network:
            name = nic.source_network
            try:
                if not dest.conn.networkLookupByName(name).isActive():
                    problems.append(f"Network '{name}' is not running on {dest.label}.")
            except libvirt.libvirtError:
                problems.append(f"Network '{name}' does not exist on {dest.label}.")
        elif nic.type == "bridge" and nic.source_bridge:
            bridge = nic.source_bridge
            try:
                dest.conn.interfaceLookupByName(bridge)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == libvirt.VIR_ERR_NO_INTERFACE:
                    problems.append(f"Bridge '{bridge}' does not exist on {dest.label}.")
    return problems


def check(
    source_label: str,
    source_readonly: bool,
    dom: libvirt.virDomain,
    dest: Destination,
    options: MigrationOptions,
) -> Preflight:
    """Every reason the migration cannot go ahead, one sentence each (none when it can),
    and what could not be checked (warnings).

    libvirt errors other than the ones a check expects propagate (the caller words them).
    """
    problems = []
    if source_readonly:
        problems.append(f"The connection to {source_label} is read-only: migrating from it "
                        "needs a read-write connection.")  # fmt: skip
    if dest.readonly:
        problems.append(f"The connection to {dest.label} is read-only: migrating to it needs "
                        "a read-write connection.")  # fmt: skip
    src = dom.connect()
    here = host_uuid(src)
    if here is not None and here == host_uuid(dest.conn):  # unknown (the test driver): two
        problems.append(f"{dest.label} is the same host as {source_label} (same host UUID): "
                        "choose another destination.")  # fmt: skip
        return Preflight(problems)
    running = bool(dom.isActive())
    domain = Domain.from_xml(dom.XMLDesc(0))
    problems.extend(_options_problems(options, running, dest))
    clash = _clash(dom, dest)
    if clash:
        problems.append(clash)
    cpu = _cpu_problem(src, domain, dest) if running else None
    if cpu:
        problems.append(cpu)
    disks = _disk_problems(disks_of(domain), options, dest)
    problems.extend(disks.problems)
    problems.extend(_network_problems(domain, dest))
    return Preflight(problems, disks.warnings)
