"""A guest's snapshots: the tree, what can be made here and why not, create, revert, delete.

The tree comes from libvirt's snapshot XML (``<domainsnapshot>``: name, parent, state,
creation time, description, memory and disks), read here with the standard library's
ElementTree: only its top-level fields are read, never the ``<domain>`` inside (domain
XML goes through :mod:`kvmtui.backend.domain`, which reads the guest's disks and
firmware for the capabilities).

Capabilities decide what is offered, each refusal one sentence: internal snapshots
need every writable disk in qcow2 and no shareable disk, and for a UEFI guest a libvirt
newer than 9.0; external disk-only snapshots need every writable disk to be a file;
reverting to an external snapshot needs libvirt 9.9; quiesce needs the guest agent to
answer (and an external disk-only snapshot, as libvirt requires). Every change is
refused on a read-only connection before libvirt is called.

Every call here is blocking (RPCs; a snapshot with memory takes seconds): run it in a
worker.
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import libvirt

from kvmtui.backend import errors
from kvmtui.backend.domain import Disk, Domain
from kvmtui.backend.domain.layout import read_domain
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobContext, JobRegistry, JobView
from kvmtui.backend.model import version_text

T = TypeVar("T")

#: Internal snapshots of UEFI guests work on libvirt newer than 9.0 (9.1.0 and later).
UEFI_INTERNAL_MIN = 9_001_000
#: Reverting to an external snapshot came in libvirt 9.9.0.
EXTERNAL_REVERT_MIN = 9_009_000
#: Seconds between progress readings while a snapshot with memory is saved.
PROGRESS_EVERY_S = 0.5
#: How long the guest agent may take to answer the ping that offers quiesce.
AGENT_PING_S = 2

#: How a save is going: a phrase, bytes of memory saved, of how many (None: unknown).
Progress = Callable[[str, int, int | None], None]


class Kind(StrEnum):
    INTERNAL = "internal"  # inside the qcow2 images (with memory when the guest runs)
    EXTERNAL = "external"  # disk-only: new overlay files on top of the current images


class RevertTo(StrEnum):
    """What the guest does after a revert."""

    RUNNING = "running"
    PAUSED = "paused"


class DeleteMode(StrEnum):
    ONE = "one"  # this snapshot; its children move to its parent
    CHILDREN = "children"  # this snapshot and every snapshot below it
    METADATA = "metadata"  # libvirt forgets it; images and overlays stay as they are


_REVERT_FLAGS = {
    RevertTo.RUNNING: libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING,
    RevertTo.PAUSED: libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED,
}
_DELETE_FLAGS = {
    DeleteMode.ONE: 0,
    DeleteMode.CHILDREN: libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN,
    DeleteMode.METADATA: libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY,
}
#: libvirt's snapshot states as kvmtui shows them.
_STATES = {"shutoff": "shut off", "disk-snapshot": "disk-only", "pmsuspended": "suspended"}


@dataclass(frozen=True, slots=True)
class Snapshot:
    name: str
    parent: str | None
    created: int  # seconds since the epoch
    state: str  # running, paused, shut off, disk-only...
    description: str | None
    current: bool
    external: bool  # memory or any disk in files of their own (overlays)
    memory: bool  # the guest's memory is in it (reverting resumes where it was)
    depth: int = 0  # its place in the tree: 0 for a root
    children: int = 0  # how many snapshots hang directly below it


@dataclass(frozen=True, slots=True)
class Offer:
    """What may be made on this guest now: each None when offered, else why not."""

    internal: str | None
    external: str | None
    memory: str | None  # internal with memory (a running guest)
    quiesce: str | None  # freeze the guest's filesystems through the agent first
    external_revert: str | None

    def not_offered(self, *, revert: bool = True) -> tuple[str, ...]:
        """One sentence for each thing not offered (``revert``: the external revert gate
        too), in the order the screens list them."""
        named = [
            ("Internal snapshots", self.internal),
            ("External disk-only snapshots", self.external),
            ("Memory", self.memory),
            ("Quiesce", self.quiesce),
        ]
        if revert:
            named.append(("Revert to external snapshots", self.external_revert))
        return tuple(f"{what}: not offered, {why}." for what, why in named if why)


@dataclass(frozen=True, slots=True)
class SnapshotTree:
    host: str
    guest: str
    uuid: str
    running: bool  # the guest is active (running or paused)
    libvirt_version: str
    snapshots: tuple[Snapshot, ...]  # in tree order: each parent before its children
    offer: Offer

    def snapshot(self, name: str) -> Snapshot | None:
        return next((s for s in self.snapshots if s.name == name), None)

    def revert_reason(self, snapshot: Snapshot) -> str | None:
        """Why reverting to ``snapshot`` is not offered, or None."""
        return self.offer.external_revert if snapshot.external else None


@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    """What the admin asked for; checked again here before anything is sent."""

    name: str
    description: str = ""
    kind: Kind = Kind.INTERNAL
    quiesce: bool = False


class SnapshotValueError(errors.KvmtuiError):
    """A name or choice kvmtui will not send; nothing was changed."""


# -- reading ----------------------------------------------------------------------------


def _snapshot_of(xml: str, current: bool) -> Snapshot:
    root = ET.fromstring(xml)
    memory = root.find("memory")
    memory_kind = memory.get("snapshot") if memory is not None else None
    disk_kinds = {disk.get("snapshot") for disk in root.iterfind("disks/disk")}
    state = root.findtext("state", "?")
    return Snapshot(
        name=root.findtext("name", "?"),
        parent=root.findtext("parent/name"),
        created=int(root.findtext("creationTime", "0") or 0),
        state=_STATES.get(state, state),
        description=root.findtext("description") or None,
        current=current,
        external=memory_kind == "external" or "external" in disk_kinds,
        memory=memory_kind in ("internal", "external"),
    )


def _in_tree_order(found: list[Snapshot]) -> tuple[Snapshot, ...]:
    names = {s.name for s in found}
    below: dict[str | None, list[Snapshot]] = {}
    for snap in found:
        below.setdefault(snap.parent if snap.parent in names else None, []).append(snap)
    ordered: list[Snapshot] = []

    def walk(parent: str | None, depth: int) -> None:
        for snap in sorted(below.get(parent, ()), key=lambda s: (s.created, s.name)):
            children = len(below.get(snap.name, ()))
            ordered.append(_with(snap, depth=depth, children=children))
            walk(snap.name, depth + 1)

    walk(None, 0)
    return tuple(ordered)


def _with(snap: Snapshot, *, depth: int, children: int) -> Snapshot:
    return Snapshot(
        snap.name, snap.parent, snap.created, snap.state, snap.description, snap.current,
        snap.external, snap.memory, depth, children,
    )  # fmt: skip


def _writable_disks(domain: Domain) -> list[Disk]:
    """Disks a snapshot covers: not CD-ROMs or floppies, not read-only, not empty."""
    return [
        disk
        for disk in domain.disks
        if (disk.device or "disk") in ("disk", "lun") and not disk.readonly and disk.source_text
    ]


def _internal_reason(domain: Domain, lib_version: int) -> str | None:
    for disk in _writable_disks(domain):
        if disk.shareable:
            return f"disk {disk.target} is shareable (other guests may write to it)"
        if disk.format != "qcow2":
            return (
                f"disk {disk.target} is {disk.format or 'of unknown format'}; "
                "only qcow2 can hold an internal snapshot"
            )
    uefi = domain.firmware == "efi" or domain.loader_type == "pflash" or domain.nvram
    if uefi and lib_version < UEFI_INTERNAL_MIN:
        return (
            "internal snapshots of UEFI guests need libvirt newer than 9.0 "
            f"(this host has {version_text(lib_version)})"
        )
    return None


def _external_reason(domain: Domain) -> str | None:
    disks = _writable_disks(domain)
    if not disks:
        return "the guest has no writable disk"
    for disk in disks:
        if disk.shareable:
            return f"disk {disk.target} is shareable (other guests may write to it)"
        if disk.type not in (None, "file"):
            return f"disk {disk.target} is a {disk.type} disk, not a file"
    return None


def _agent_answers(dom: libvirt.virDomain) -> bool:
    import libvirt_qemu  # only here: the one ping that offers quiesce

    try:
        libvirt_qemu.qemuAgentCommand(dom, '{"execute":"guest-ping"}', AGENT_PING_S, 0)
    except libvirt.libvirtError:
        return False
    return True


def _offer(
    host: Host, dom: libvirt.virDomain, domain: Domain, lib_version: int, running: bool
) -> Offer:
    read_only = "the connection is read-only" if host.readonly else None
    internal = read_only or _internal_reason(domain, lib_version)
    external = read_only or _external_reason(domain)
    if internal:
        memory: str | None = "no internal snapshot here"
    elif not running:
        memory = "the guest is not running (a snapshot of it holds its disks only)"
    else:
        memory = None
    if external:
        quiesce: str | None = "no external disk-only snapshot here"
    elif not running:
        quiesce = "the guest is not running"
    elif domain.agent_channel is None:
        quiesce = "the guest has no agent channel"
    elif not _agent_answers(dom):
        quiesce = "the guest agent does not answer"
    else:
        quiesce = None
    external_revert = (
        "reverting to an external snapshot needs libvirt 9.9 or later "
        f"(this host has {version_text(lib_version)})"
        if lib_version < EXTERNAL_REVERT_MIN
        else read_only
    )
    return Offer(internal, external, memory, quiesce, external_revert)


def _guest_name(host: Host, uuid: str) -> str:
    cached = host.guest(uuid)
    return cached.name if cached else uuid


def _call(host: Host, action: str, guest: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action, guest=guest) from exc


def read_tree(host: Host, uuid: str) -> SnapshotTree:
    """Every snapshot of the guest in tree order, and what may be made here now."""
    action = "read the snapshots of"
    dom = host.domain(uuid, action)
    name = _guest_name(host, uuid)

    def read() -> tuple[list[Snapshot], bool, int]:
        current = dom.snapshotCurrent(0).getName() if dom.hasCurrentSnapshot(0) else None
        found = [
            _snapshot_of(snap.getXMLDesc(0), snap.getName() == current)
            for snap in dom.listAllSnapshots(0)
        ]
        return found, bool(dom.isActive()), host.connection(action).getLibVersion()

    found, running, lib_version = _call(host, action, name, read)
    domain = read_domain(host, uuid, action, libvirt.VIR_DOMAIN_XML_INACTIVE)
    return SnapshotTree(
        host=host.label,
        guest=name,
        uuid=uuid,
        running=running,
        libvirt_version=version_text(lib_version),
        snapshots=_in_tree_order(found),
        offer=_offer(host, dom, domain, lib_version, running),
    )


# -- changes ----------------------------------------------------------------------------


def _refuse(host: Host, action: str, guest: str, why: str) -> SnapshotValueError:
    return SnapshotValueError(
        f"Could not {action} guest '{guest}' on {host.label}: {why}.",
        host=host.label,
        guest=guest,
        action=action,
    )


def validate_name(name: str, existing: tuple[Snapshot, ...] = ()) -> str:
    """A snapshot name kvmtui sends: one line, no '/', not taken. Empty: libvirt picks
    one (the creation time in seconds)."""
    typed = name.strip()
    if "/" in typed or any(ch in typed for ch in "\n\t") or len(typed) > 200:
        raise SnapshotValueError(
            f"'{typed}' is not a snapshot name kvmtui uses: one line of at most 200 "
            "characters, without '/'."
        )
    if typed and any(s.name == typed for s in existing):
        raise SnapshotValueError(f"There is already a snapshot named '{typed}'.")
    return typed


def snapshot_xml(request: SnapshotRequest, domain: Domain, *, memory: bool) -> str:
    """The ``<domainsnapshot>`` to create: internal (with memory or not) or external
    disk-only (an overlay per writable disk, the rest left out)."""
    root = ET.Element("domainsnapshot")
    if request.name.strip():
        ET.SubElement(root, "name").text = request.name.strip()
    if request.description.strip():
        ET.SubElement(root, "description").text = request.description.strip()
    covered = {disk.target for disk in _writable_disks(domain)}
    kind = "internal" if request.kind is Kind.INTERNAL else "external"
    if request.kind is Kind.INTERNAL:
        ET.SubElement(root, "memory", snapshot="internal" if memory else "no")
    disks = ET.SubElement(root, "disks")
    for disk in domain.disks:
        if disk.target:
            wanted = kind if disk.target in covered else "no"
            ET.SubElement(disks, "disk", name=disk.target, snapshot=wanted)
    return ET.tostring(root, encoding="unicode")


def _watch_progress(dom: libvirt.virDomain, progress: Progress, done: threading.Event) -> None:
    """Until ``done``: what the hypervisor says of the save, twice a second."""
    started = time.monotonic()
    while not done.wait(PROGRESS_EVERY_S):
        elapsed = time.monotonic() - started
        try:
            stats = dom.jobStats(0)
        except libvirt.libvirtError:
            stats = {}
        processed, total = stats.get("memory_processed"), stats.get("memory_total")
        if processed and total:
            progress(f"saving memory: {processed * 100 // total}% of {total >> 20} MiB, "
                     f"{elapsed:.0f} s", int(processed), int(total))  # fmt: skip
        else:
            progress(f"saving memory and disks: {elapsed:.0f} s", 0, None)


def create(
    host: Host, uuid: str, request: SnapshotRequest, progress: Progress | None = None
) -> Snapshot:
    """Take a snapshot as asked (checked against what is offered first); ``progress``
    hears how a snapshot with memory is going, from another thread."""
    name = _guest_name(host, uuid)
    action = "take a snapshot of"
    host.require_writable(action, name)
    tree = read_tree(host, uuid)
    checked = validate_name(request.name, tree.snapshots)
    offer = tree.offer
    why = offer.internal if request.kind is Kind.INTERNAL else offer.external
    if why:
        raise _refuse(host, action, name, f"no {request.kind} snapshot: {why}")
    if request.quiesce and offer.quiesce:
        raise _refuse(host, action, name, f"cannot quiesce: {offer.quiesce}")
    memory = with_memory(tree, request)
    domain = read_domain(host, uuid, action)
    xml = snapshot_xml(
        SnapshotRequest(checked, request.description, request.kind, request.quiesce),
        domain,
        memory=memory,
    )
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
    if request.kind is Kind.EXTERNAL:
        flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
    if request.quiesce:
        flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE
    dom = host.domain(uuid, action)
    done = threading.Event()
    if memory and progress is not None:
        watcher = threading.Thread(
            target=_watch_progress, args=(dom, progress, done), name="snapshot-progress",
            daemon=True,
        )  # fmt: skip
        watcher.start()
    try:
        made = _call(host, action, name, lambda: dom.snapshotCreateXML(xml, flags))
    finally:
        done.set()
        host.request_refresh(uuid)
    after = read_tree(host, uuid).snapshot(made.getName())
    if after is None:
        raise errors.OperationError(f"Could not {action} guest '{name}' on {host.label}: "
                                    "the snapshot did not appear.")  # fmt: skip
    return after


def with_memory(tree: SnapshotTree, request: SnapshotRequest) -> bool:
    """The snapshot will hold the guest's memory (an internal one of an active guest)."""
    return request.kind is Kind.INTERNAL and tree.running


def start_create(
    jobs: JobRegistry, host: Host, uuid: str, request: SnapshotRequest
) -> JobView:
    """Take the snapshot as a job (one with memory takes seconds): progress on the jobs
    screen, the outcome as the job's sentence. libvirt cannot abort a snapshot, so the
    job offers no cancel."""
    name = _guest_name(host, uuid)
    title = f"Snapshot '{request.name.strip() or '(named by libvirt)'}' of '{name}'"
    return jobs.start(
        host.label, title, lambda ctx: create_job(ctx, host, uuid, request), cancellable=False
    )


def create_job(ctx: JobContext, host: Host, uuid: str, request: SnapshotRequest) -> str:
    """The snapshot job's body; returns the result sentence."""
    ctx.phase("checking")

    def report(text: str, done: int, total: int | None) -> None:
        ctx.phase(text)
        ctx.progress(done, total)

    made = create(host, uuid, request, report)
    kind = "with memory" if made.memory else made.state
    return f"Took snapshot '{made.name}' of '{_guest_name(host, uuid)}' ({kind})."


def _existing(
    host: Host, uuid: str, action: str, snapshot: str
) -> tuple[str, Snapshot, SnapshotTree]:
    name = _guest_name(host, uuid)
    host.require_writable(action, name)
    tree = read_tree(host, uuid)
    found = tree.snapshot(snapshot)
    if found is None:
        raise _refuse(host, action, name, f"there is no snapshot '{snapshot}'")
    return name, found, tree


def revert(host: Host, uuid: str, snapshot: str, after: RevertTo) -> None:
    """Put the guest back to ``snapshot``, then running or paused. What the guest did
    since the snapshot (disks and, for a running guest, memory) is lost."""
    action = f"revert to snapshot '{snapshot}'"
    name, found, tree = _existing(host, uuid, action, snapshot)
    why = tree.revert_reason(found)
    if why:
        raise _refuse(host, action, name, why)
    dom = host.domain(uuid, action)
    try:
        _call(host, action, name, lambda: dom.revertToSnapshot(
            dom.snapshotLookupByName(snapshot, 0), _REVERT_FLAGS[after]))  # fmt: skip
    finally:
        host.request_refresh(uuid)


def delete(host: Host, uuid: str, snapshot: str, mode: DeleteMode) -> None:
    """Delete ``snapshot``: alone, with its children, or its metadata only."""
    action = f"delete snapshot '{snapshot}'"
    name, found, _tree = _existing(host, uuid, action, snapshot)
    if mode is DeleteMode.CHILDREN and not found.children:
        raise _refuse(host, action, name, "it has no children")
    dom = host.domain(uuid, action)
    _call(host, action, name, lambda: dom.snapshotLookupByName(snapshot, 0).delete(
        _DELETE_FLAGS[mode]))  # fmt: skip
