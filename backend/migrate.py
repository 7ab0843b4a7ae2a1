"""Move a guest to another host: a job with progress, live controls and cancel.

:func:`start_migration` runs the pre-flight (``migrate_check``) again on the job's
thread, creates the destination volumes first when storage is copied (deleted again
on failure or cancel), then calls ``migrate3`` (or ``migrateToURI3`` peer-to-peer) on
a thread of its own while the job's thread reads the source's ``jobStats()`` twice a
second into a :class:`~kvmtui.backend.migrate_figures.FigureLog`. While it runs,
:class:`Migration` sets the maximum speed and downtime, switches to post-copy, and
cancels (``abortJob``, through the job registry). A failure says why and whether the
guest still runs on the source, which it does unless post-copy had started.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator

import libvirt

from kvmtui.backend import errors
from kvmtui.backend import uri as uris
from kvmtui.backend.domain import Domain
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobContext, JobRegistry, JobView
from kvmtui.backend.migrate_check import Destination, Preflight, check, disks_of, pool_over
from kvmtui.backend.migrate_figures import FigureLog, MigrationFigures
from kvmtui.backend.migrate_options import CopyStorage, MigrationOptions, flags_of, params_of
from kvmtui.backend.storage import volume_xml

#: Seconds between two readings of the source's jobStats.
POLL_S = 0.5


class MigrationRefused(errors.KvmtuiError):
    """The pre-flight found reasons not to start; nothing was sent."""


def destination_of(host: Host) -> Destination:
    """A connected host of the list as the destination."""
    conn = host.connection(f"migrate a guest to {host.label}")
    return Destination(host.label, host.uri or "", host.readonly, conn)


@contextlib.contextmanager
def typed_destination(uri: str, *, readonly: bool) -> Iterator[Destination]:
    """A URI typed in, opened for the time of a check or a migration."""
    label = uris.label_for(uri)
    try:
        conn = (libvirt.openReadOnly if readonly else libvirt.open)(uris.connect_uri(uri))
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=label, action="connect for the migration") from exc
    try:
        yield Destination(label, uri, readonly, conn)
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()


def preflight(host: Host, uuid: str, dest: Destination, options: MigrationOptions) -> Preflight:
    """The pre-flight's sentences: refusals (none when the migration can go ahead) and
    warnings."""
    dom = host.domain(uuid, "check the migration of")
    try:
        return check(host.label, host.readonly, dom, dest, options)
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(
            exc, host=host.label, action=f"check the migration to {dest.label} of", guest=uuid
        ) from exc


class Migration:
    """One migration: its job, its figures and its live controls."""

    def __init__(
        self, host: Host, uuid: str, name: str, dest_label: str, options: MigrationOptions
    ) -> None:
        self.host = host
        self.uuid = uuid
        self.name = name
        self.dest_label = dest_label
        self.options = options
        self.log = FigureLog()
        self.job_id: int | None = None
        self.running = threading.Event()  # set while QEMU migrates (controls work)

    @property
    def figures(self) -> MigrationFigures | None:
        return self.log.latest

    def _control(self, action: str, call: str, *args: object) -> None:
        self.host.require_writable(action, self.name)
        if not self.running.is_set():
            raise errors.InvalidStateError(
                f"Could not {action} guest '{self.name}' on {self.host.label}: the migration "
                "is not running.", host=self.host.label, guest=self.name, action=action,
            )  # fmt: skip
        dom = self.host.domain(self.uuid, action)
        try:
            getattr(dom, call)(*args)
        except libvirt.libvirtError as exc:
            raise errors.from_libvirt(exc, host=self.host.label, action=action,
                                      guest=self.name) from exc  # fmt: skip

    def set_max_speed(self, mib_s: int) -> None:
        if mib_s < 0:
            raise errors.OperationError("The maximum speed is a number of MiB/s, 0 or more.")
        self._control("set the migration speed of", "migrateSetMaxSpeed", mib_s, 0)

    def set_max_downtime(self, ms: int) -> None:
        if ms <= 0:
            raise errors.OperationError("The maximum downtime is a number of ms above 0.")
        self._control("set the migration downtime of", "migrateSetMaxDowntime", ms, 0)

    def start_postcopy(self) -> None:
        action = "switch to post-copy the migration of"
        if not self.options.postcopy:
            raise errors.InvalidStateError(
                f"Could not {action} guest '{self.name}': post-copy was not allowed when the "
                "migration started (option 'post-copy allowed').",
                host=self.host.label, guest=self.name, action=action,
            )  # fmt: skip
        self._control(action, "migrateStartPostCopy", 0)
        self.log.postcopy = True


def start_migration(
    jobs: JobRegistry,
    host: Host,
    uuid: str,
    name: str,
    dest_host: Host | None,
    dest_uri: str,
    options: MigrationOptions,
) -> tuple[JobView, Migration]:
    """Start migrating the guest to DEST_HOST (a host of the list) or DEST_URI (typed)."""
    label = dest_host.label if dest_host is not None else uris.label_for(dest_uri)
    migration = Migration(host, uuid, name, label, options)

    def body(ctx: JobContext) -> str:
        if dest_host is not None:
            return _run(ctx, migration, destination_of(dest_host))
        with typed_destination(dest_uri, readonly=host.readonly) as dest:
            return _run(ctx, migration, dest)

    view = jobs.start(host.label, f"Migrate '{name}' from {host.label} to {label}", body)
    migration.job_id = view.id
    return view, migration


def _run(ctx: JobContext, mig: Migration, dest: Destination) -> str:
    host, options = mig.host, mig.options
    action = f"migrate to {dest.label}"
    ctx.phase("pre-flight")
    host.require_writable(action, mig.name)
    if dest.readonly:
        raise errors.ReadOnlyError(
            f"Could not migrate guest '{mig.name}' to {dest.label}: the connection to "
            f"{dest.label} is read-only. Connect to it read-write to migrate there.",
            host=dest.label, guest=mig.name, action=action,
        )  # fmt: skip
    problems = preflight(host, mig.uuid, dest, options).problems  # warnings: seen in the dialog
    if problems:
        raise MigrationRefused(" ".join(problems), host=host.label, guest=mig.name)
    ctx.check_cancel()
    dom = host.domain(mig.uuid, action)
    params = params_of(options)
    if options.copy_storage is not CopyStorage.NONE:
        ctx.phase("creating the destination volumes")
        _create_volumes(ctx, mig, dom, dest, params)
    ctx.check_cancel()
    ctx.phase("migrating")
    outcome: dict[str, object] = {}
    flags = flags_of(options)

    def call() -> None:
        try:
            if flags & libvirt.VIR_MIGRATE_PEER2PEER:
                dom.migrateToURI3(dest.uri, params, flags)
            else:
                dom.migrate3(dest.conn, params, flags)
        except libvirt.libvirtError as exc:
            outcome["error"] = exc
        finally:
            outcome["done"] = True

    started = time.monotonic()
    worker = threading.Thread(target=call, name=f"migrate:{mig.name}", daemon=True)
    ctx.on_cancel(dom.abortJob)
    worker.start()
    _watch(ctx, mig, dom, worker)
    ctx.on_cancel(None)
    mig.running.clear()
    error = outcome.get("error")
    if isinstance(error, libvirt.libvirtError):
        ctx.check_cancel()  # an aborted call is the cancel taking effect
        raise _failure(error, mig, dom, dest)
    ctx.keep()
    seconds = time.monotonic() - started
    last = mig.log.latest
    downtime = _downtime(dom)
    said = f", downtime {downtime} ms" if downtime is not None else ""
    moved = f"{_size(last.total)} " if last and last.total else ""
    return (f"Migrated '{mig.name}' from {host.label} to {dest.label}: {moved}in "
            f"{seconds:.1f} s{said}.")  # fmt: skip


def _watch(
    ctx: JobContext, mig: Migration, dom: libvirt.virDomain, worker: threading.Thread
) -> None:
    """Read jobStats until the migrate call returns; apply the downtime once it runs."""
    downtime_set = False
    while worker.is_alive():
        worker.join(POLL_S)
        if not worker.is_alive():
            break
        try:
            stats = dom.jobStats(0)
        except libvirt.libvirtError:
            continue  # the domain is switching hosts; the call's outcome will tell
        figures = mig.log.add(stats)
        if stats.get("type", libvirt.VIR_DOMAIN_JOB_NONE) == libvirt.VIR_DOMAIN_JOB_NONE:
            continue
        mig.running.set()
        ctx.phase(figures.phase)
        ctx.progress(figures.done, figures.total or None)
        if mig.options.max_downtime_ms and not downtime_set:
            downtime_set = True
            with contextlib.suppress(libvirt.libvirtError):
                dom.migrateSetMaxDowntime(mig.options.max_downtime_ms, 0)


def _downtime(dom: libvirt.virDomain) -> int | None:
    with contextlib.suppress(libvirt.libvirtError):
        value = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED).get("downtime")
        return int(value) if isinstance(value, int) else None
    return None


def _size(n: int) -> str:
    from kvmtui.backend.throttle import binary_text

    return binary_text(n, "B")


def _failure(
    exc: libvirt.libvirtError, mig: Migration, dom: libvirt.virDomain, dest: Destination
) -> errors.KvmtuiError:
    """libvirt's reason, and where the guest is now."""
    error = errors.from_libvirt(exc, host=mig.host.label, action=f"migrate to {dest.label}",
                                guest=mig.name)  # fmt: skip
    try:
        where = "It keeps running on" if dom.isActive() else "It is not running on"
        tail = f"{where} {mig.host.label}."
    except libvirt.libvirtError:
        tail = f"It is no longer on {mig.host.label}; look for it on {dest.label}."
    error.message = (f"Could not migrate guest '{mig.name}' from {mig.host.label} to "
                     f"{dest.label}: {error.detail}. {tail}")  # fmt: skip
    error.args = (error.message,)
    return error


def _deleter(vol: libvirt.virStorageVol) -> Callable[[], None]:
    return lambda: vol.delete(0)


def _create_volumes(
    ctx: JobContext,
    mig: Migration,
    dom: libvirt.virDomain,
    dest: Destination,
    params: dict[str, object],
) -> None:
    """The copies' volumes on the destination first, the same size and format; when the
    chosen pool is elsewhere than the disk's directory, the guest's XML there points at
    them."""
    domain = Domain.from_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE))
    targets: list[str] = []
    moved = False
    for disk in disks_of(domain):
        if disk.readonly:
            continue
        targets.append(disk.target)
        action = f"create the copy of disk {disk.target} on {dest.label} for"
        try:
            if mig.options.dest_pool:
                pool = dest.conn.storagePoolLookupByName(mig.options.dest_pool)
            else:
                found = pool_over(dest.conn, os.path.dirname(disk.path))
                if found is None:
                    raise MigrationRefused(
                        f"{dest.label} has no pool over {os.path.dirname(disk.path)}."
                    )
                pool = found
            capacity = int(dom.blockInfo(disk.target, 0)[0])
            vol_name = os.path.basename(disk.path)
            vol = pool.createXML(volume_xml(vol_name, capacity, disk.fmt), 0)
        except libvirt.libvirtError as exc:
            raise errors.from_libvirt(exc, host=dest.label, action=action,
                                      guest=mig.name) from exc  # fmt: skip
        ctx.cleanup(f"the copy '{vol_name}' in pool '{pool.name()}' on {dest.label}",
                    _deleter(vol))  # fmt: skip
        new_path = vol.path()
        if new_path != disk.path:
            moved = True
            copied = domain.disk(disk.target)
            if copied is not None and copied.source is not None:
                copied.source.file = new_path
    params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = targets
    if moved:
        params[libvirt.VIR_MIGRATE_PARAM_DEST_XML] = domain.to_xml()
