"""The clone job (:mod:`kvmtui.backend.clone` plans it): checks, then each disk copied
(``createXMLFrom``, its progress read from the new volume's allocation) or given a qcow2
overlay, the NVRAM copied, the clone defined and, for a linked clone, recorded in the
source's metadata (:mod:`kvmtui.backend.linked`). What it made is removed, newest first,
when it fails or is cancelled; cancel takes effect between steps (libvirt cannot abort
a volume copy).
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import threading
import time
import uuid as uuidlib
from pathlib import PurePosixPath
from xml.sax.saxutils import escape

import libvirt

from kvmtui.backend import errors, linked, uri
from kvmtui.backend.clone import (
    CloneRequest,
    CloneSource,
    CloneValueError,
    DiskAction,
    DiskPlan,
    Mode,
    clone_definition,
    new_volume_name,
    point_disk,
    pool_over,
    read_source,
    volume_base_name,
)
from kvmtui.backend.domain import Domain
from kvmtui.backend.domain.notes import LinkedClone
from kvmtui.backend.guest_name import GuestNameError, check_guest_name
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobContext, JobRegistry, JobView
from kvmtui.backend.storage import call_libvirt
from kvmtui.backend.throttle import binary_text

#: How often a copy's progress is read (the new volume's allocation).
POLL_S = 0.5


def start_clone(jobs: JobRegistry, host: Host, uuid: str, request: CloneRequest) -> JobView:
    """Start cloning the guest as a job; returns at once."""
    cached = host.guest(uuid)
    source_name = cached.name if cached else uuid
    how = "linked clone" if request.mode is Mode.LINKED else "full copy"
    title = f"Clone '{source_name}' as '{request.name}' ({how})"
    return jobs.start(host.label, title, lambda ctx: clone(ctx, host, uuid, request))


def check(host: Host, source: CloneSource, request: CloneRequest) -> str:
    """Refuse what cannot be made, before anything is; the checked name."""
    action = f"clone guest '{source.name}'"
    prefix = f"Could not {action} on {host.label}"
    if source.refusal:
        raise errors.invalid_state(
            host=host.label, action="clone", guest=source.name, why=source.refusal
        )
    if source.disk_refusal:
        raise CloneValueError(f"{prefix}: {source.disk_refusal}.")
    if request.mode is Mode.LINKED and source.linked_refusal:
        raise CloneValueError(
            f"{prefix} as a linked clone: {source.linked_refusal}; make a full copy or "
            "shut it down."
        )
    try:
        name = check_guest_name(request.name, source.taken)
    except GuestNameError as exc:
        raise CloneValueError(f"{prefix}: {exc}") from exc
    pools = {p.name: p for p in source.pools}
    wanted = {request.pool} if request.pool else {d.pool for d in source.copies}
    for pool_name in sorted(p for p in wanted if p):
        if pool_name not in pools:
            raise CloneValueError(f"{prefix}: pool '{pool_name}' is not running; start it.")
    if request.pool and source.copies:
        needed = source.needed_bytes(request.mode)
        available = pools[request.pool].available
        if needed > available:
            raise CloneValueError(
                f"{prefix}: the copies need {binary_text(needed, 'B')} and pool "
                f"'{request.pool}' has {binary_text(available, 'B')} available."
            )
    return name


def clone(ctx: JobContext, host: Host, uuid: str, request: CloneRequest) -> str:
    """The clone job's body; returns the result sentence."""
    ctx.phase("checking")
    cached = host.guest(uuid)
    host.require_writable("clone", cached.name if cached else uuid)
    source = read_source(host, uuid)
    name = check(host, source, request)
    action = f"clone guest '{source.name}'"
    conn = host.connection(action)
    dom = host.domain(uuid, action)
    domain = Domain.from_xml(
        call_libvirt(host, action, dom.XMLDesc, libvirt.VIR_DOMAIN_XML_INACTIVE)
    )
    new_uuid = str(uuidlib.uuid4())
    clone_definition(domain, name, new_uuid)
    ctx.check_cancel()

    started = time.monotonic()
    copies = source.copies
    total = source.needed_bytes(request.mode) or None
    done = 0
    links: list[LinkedClone] = []
    disks = {d.target: d for d in domain.disks}
    used_names: dict[str, set[str]] = {}
    for index, plan in enumerate(copies):
        pool_name = request.pool or plan.pool or ""
        pool = call_libvirt(host, action, conn.storagePoolLookupByName, pool_name)
        taken = used_names.setdefault(pool_name, set(call_libvirt(host, action, pool.listVolumes)))
        vol_name = new_volume_name(name, plan, index == 0, request.mode, taken)
        taken.add(vol_name)
        if request.mode is Mode.LINKED:
            ctx.phase(f"making an overlay for {plan.target}")
            vol, fmt = _overlay(host, action, pool, vol_name, plan), "qcow2"
        elif source.paused:  # QEMU holds the disk: it copies it itself
            ctx.phase(f"copying {plan.target} through QEMU")
            fmt = plan.format or "raw"
            vol = call_libvirt(host, action, pool.createXML, _volume_xml(vol_name, plan, fmt), 0)
        else:
            ctx.phase(f"copying {plan.target}")
            fmt = plan.format or "raw"
            vol = _copy(ctx, host, action, pool, vol_name, plan, fmt, done, total)
        ctx.cleanup(
            f"the volume '{vol_name}' in pool '{pool_name}'",
            functools.partial(_delete_volume, host, pool_name, vol_name),
        )
        if request.mode is Mode.FULL and source.paused:
            _mirror(ctx, host, action, dom, plan, vol, fmt, done, total)
        done += plan.allocation if request.mode is Mode.FULL else 0
        point_disk(disks[plan.target], vol, pool_name, fmt)
        if request.mode is Mode.LINKED and plan.path:
            links.append(LinkedClone(new_uuid, name, plan.path, vol.path()))
        ctx.check_cancel()

    if source.nvram:
        ctx.phase("copying the NVRAM")
        copied = _copy_nvram(ctx, host, action, source.nvram, name, source.nvram_made_at_start)
        if copied:  # else never started: the clone's is made from the template too
            domain.nvram = copied
        ctx.check_cancel()

    ctx.phase("defining the guest")
    call_libvirt(host, action, conn.defineXML, domain.to_xml())
    ctx.cleanup(f"the definition of '{name}'", lambda: _undefine(host, new_uuid))
    if links:
        ctx.phase("recording the base")
        for entry in links:
            call_libvirt(host, action, linked.record, conn, dom, entry)
    ctx.keep()
    host.request_refresh(new_uuid)
    seconds = time.monotonic() - started
    shared = [d.target for d in source.disks if d.action is DiskAction.SHARE]
    what = (
        f"{len(copies)} overlay{'s' if len(copies) != 1 else ''} on its disks; "
        f"'{source.name}' now asks before it starts"
        if request.mode is Mode.LINKED
        else f"{len(copies)} disk{'s' if len(copies) != 1 else ''} copied"
    )
    sharing = f", {', '.join(shared)} shared" if shared else ""
    return (
        f"Cloned '{source.name}' as '{name}' on {host.label} in {seconds:.1f} s: "
        f"{what}{sharing}, new UUID and MACs."
    )


def _overlay(
    host: Host, action: str, pool: libvirt.virStoragePool, vol_name: str, plan: DiskPlan
) -> libvirt.virStorageVol:
    xml = (
        f"<volume><name>{escape(vol_name)}</name>"
        f"<capacity unit='bytes'>{plan.capacity}</capacity>"
        "<target><format type='qcow2'/></target>"
        f"<backingStore><path>{escape(plan.path or '')}</path>"
        f"<format type='{escape(plan.format or 'raw')}'/></backingStore></volume>"
    )
    vol = call_libvirt(host, action, pool.createXML, xml, 0)
    return vol


def _copy(
    ctx: JobContext,
    host: Host,
    action: str,
    pool: libvirt.virStoragePool,
    vol_name: str,
    plan: DiskPlan,
    fmt: str,
    done_before: int,
    total: int | None,
) -> libvirt.virStorageVol:
    """createXMLFrom, with the new volume's allocation read on a second connection
    while it runs (a storage call on the busy connection waits for the copy)."""
    conn = host.connection(action)
    src_pool = call_libvirt(host, action, conn.storagePoolLookupByName, plan.pool)
    src = call_libvirt(host, action, src_pool.storageVolLookupByName, plan.volume)
    xml = _volume_xml(vol_name, plan, fmt)
    ctx.progress(done_before, total)
    stop = threading.Event()
    watcher = threading.Thread(
        target=watch_copy,
        args=(ctx, host, pool.name(), vol_name, done_before, plan.allocation, total, stop),
        name=f"clone-progress:{vol_name}",
        daemon=True,
    )
    watcher.start()
    try:
        vol = call_libvirt(host, action, pool.createXMLFrom, xml, src, 0)
    finally:
        stop.set()
        watcher.join()
    ctx.progress(done_before + plan.allocation, total)
    return vol


def _volume_xml(vol_name: str, plan: DiskPlan, fmt: str) -> str:
    return (
        f"<volume><name>{escape(vol_name)}</name>"
        f"<capacity unit='bytes'>{plan.capacity}</capacity>"
        f"<target><format type='{escape(fmt)}'/></target></volume>"
    )


def _mirror(
    ctx: JobContext,
    host: Host,
    action: str,
    dom: libvirt.virDomain,
    plan: DiskPlan,
    vol: libvirt.virStorageVol,
    fmt: str,
    done_before: int,
    total: int | None,
) -> None:
    """Copy a paused guest's disk into ``vol`` with a block copy (QEMU holds the image,
    so qemu-img may not read it): the whole chain, then the mirror is ended without a
    pivot, leaving the source disk in use and the copy as it is now."""
    block = vol.info()[0] == libvirt.VIR_STORAGE_VOL_BLOCK
    where = f"<source dev='{escape(vol.path())}'/>" if block else (
        f"<source file='{escape(vol.path())}'/>"
    )
    dest = (
        f"<disk type='{'block' if block else 'file'}'>{where}"
        f"<driver type='{escape(fmt)}'/></disk>"
    )
    target = plan.target
    ctx.on_cancel(lambda: dom.blockJobAbort(target, 0))
    call_libvirt(host, action, dom.blockCopy, target, dest, None,
                 libvirt.VIR_DOMAIN_BLOCK_COPY_REUSE_EXT
                 | libvirt.VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB)  # fmt: skip
    try:
        while True:
            ctx.check_cancel()
            info = call_libvirt(host, action, dom.blockJobInfo, target, 0)
            if not info:
                raise errors.OperationError(
                    f"Could not {action} on {host.label}: the copy of {target} ended early."
                )
            cur, end = int(info.get("cur", 0)), int(info.get("end", 0))
            if end:
                ctx.progress(done_before + plan.allocation * cur // end, total)
            if end and cur == end and _mirror_ready(dom, target):
                break
            time.sleep(0.2)
    except BaseException:
        with contextlib.suppress(libvirt.libvirtError):
            dom.blockJobAbort(target, 0)
        raise
    finally:
        ctx.on_cancel(None)
    call_libvirt(host, action, dom.blockJobAbort, target, 0)  # ends the mirror, no pivot
    while call_libvirt(host, action, dom.blockJobInfo, target, 0):
        time.sleep(0.1)


def _mirror_ready(dom: libvirt.virDomain, target: str) -> bool:
    disk = Domain.from_xml(dom.XMLDesc(0)).disk(target)
    return disk is not None and disk.mirror_ready is True


def watch_copy(
    ctx: JobContext,
    host: Host,
    pool_name: str,
    vol_name: str,
    before: int,
    size: int,
    total: int | None,
    stop: threading.Event,
) -> None:
    try:
        target = uri.connect_uri(host.uri)
        conn = libvirt.openReadOnly(target)
    except libvirt.libvirtError:
        return  # no figures then; the copy itself goes on
    try:
        while not stop.wait(POLL_S):
            with contextlib.suppress(libvirt.libvirtError):
                vol = conn.storagePoolLookupByName(pool_name).storageVolLookupByName(vol_name)
                ctx.progress(before + min(size, int(vol.info()[2])), total)
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()


def _copy_nvram(
    ctx: JobContext, host: Host, action: str, path: str, name: str, missing_ok: bool = False
) -> str | None:
    """Copy the NVRAM file beside it, through the pool over its folder (a transient one
    for the copy when there is none); returns the copy's path, or None when the file is
    absent and ``missing_ok`` (libvirt's default path of a guest never started)."""
    conn = host.connection(action)
    folder = str(PurePosixPath(path).parent)
    made: libvirt.virStoragePool | None = None
    try:
        pool = pool_over(conn, folder)
        if pool is None:
            pool = made = _transient_pool(conn, folder)
        else:
            with contextlib.suppress(libvirt.libvirtError):
                pool.refresh(0)
        try:
            src = pool.storageVolLookupByName(PurePosixPath(path).name)
        except libvirt.libvirtError as exc:
            if missing_ok and exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
                return None
            raise
        new_name = f"{volume_base_name(name)}_VARS.fd"
        taken = set(pool.listVolumes())
        number = 2
        while new_name in taken:
            new_name, number = f"{volume_base_name(name)}-{number}_VARS.fd", number + 1
        capacity = int(src.info()[1])
        vol = pool.createXMLFrom(
            f"<volume><name>{escape(new_name)}</name>"
            f"<capacity unit='bytes'>{capacity}</capacity>"
            "<target><format type='raw'/></target></volume>", src, 0
        )  # fmt: skip
        new_path = str(vol.path())
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=f"{action}: copy its NVRAM") from exc
    finally:
        if made is not None:
            with contextlib.suppress(libvirt.libvirtError):
                made.destroy()  # a transient dir pool: its files stay
    ctx.cleanup(f"the NVRAM copy {new_path}", lambda: _delete_path(host, new_path, folder))
    return new_path


def _transient_pool(conn: libvirt.virConnect, folder: str) -> libvirt.virStoragePool:
    """A dir pool over ``folder`` for one copy; destroying it leaves the files."""
    return conn.storagePoolCreateXML(
        f"<pool type='dir'><name>kvmtui-nvram-{secrets.token_hex(4)}</name>"
        f"<target><path>{escape(folder)}</path></target></pool>",
        0,
    )


def _delete_path(host: Host, path: str, folder: str) -> None:
    conn = host.connection("remove the NVRAM copy")
    try:
        conn.storageVolLookupByPath(path).delete(0)
        return
    except libvirt.libvirtError:
        pass
    pool = _transient_pool(conn, folder)
    try:
        pool.storageVolLookupByName(PurePosixPath(path).name).delete(0)
    finally:
        pool.destroy()


def _delete_volume(host: Host, pool_name: str, vol_name: str) -> None:
    conn = host.connection("remove a volume")
    try:
        conn.storagePoolLookupByName(pool_name).storageVolLookupByName(vol_name).delete(0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
            raise


def _undefine(host: Host, new_uuid: str) -> None:
    conn = host.connection("remove the clone's definition")
    try:
        conn.lookupByUUIDString(new_uuid).undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise
