"""Upload a local file into a storage pool, download a volume to a local file: jobs.

Both go over a libvirt stream (what ``virsh vol-upload`` and ``vol-download`` do), so
they work on remote hosts as on the local one. Everything that can be refused is
refused before a byte is sent: a read-only connection, an unreadable or unsuitable
file, a bad or taken name, a pool that is not running or has too little free space,
a local target that exists or does not fit. An upload creates the volume first (the
format and sizes read from the file's header), then streams the file into it; a
failure or cancel deletes that volume. A download writes to a hidden temporary file
beside the target and renames it at the end; a failure or cancel removes it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import libvirt

from kvmtui.backend import errors, imagefile
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobCancelled, JobContext, JobRegistry, JobView
from kvmtui.backend.storage import (
    StorageValueError,
    call_libvirt,
    lookup_pool,
    validate_name,
    volume_xml,
)
from kvmtui.backend.throttle import binary_text

#: Bytes per stream call: libvirt's RPC carries at most 256 KiB per stream packet, and
#: measured against 64 KiB, 1 MiB and 4 MiB this size was the fastest; small enough that
#: a cancel takes effect at once even over a slow link.
CHUNK = 256 * 1024
#: How long deleting a volume after an aborted upload is retried while the daemon still
#: counts the upload's stream as using it.
DELETE_RETRY_S = 15.0


def _size(n: int) -> str:
    return binary_text(n, "B") if n else "0 B"


def _speed(n: int, seconds: float) -> str:
    return f"{_size(int(n / seconds))}/s" if seconds > 0 else "-"


# -- upload -----------------------------------------------------------------------------


def start_upload(
    jobs: JobRegistry, host: Host, pool_name: str, path: str, name: str | None = None
) -> JobView:
    """Start uploading ``path`` into ``pool_name`` as ``name`` (default: the file's name)."""
    vol_name = (name or "").strip() or Path(path).name
    title = f"Upload {Path(path).name} to pool '{pool_name}' as '{vol_name}'"
    return jobs.start(host.label, title, lambda ctx: upload(ctx, host, pool_name, path, vol_name))


def upload(ctx: JobContext, host: Host, pool_name: str, path: str, name: str) -> str:
    """The upload job's body; returns the result sentence."""
    done = upload_volume(ctx, host, pool_name, path, name)
    ctx.keep()
    return (
        f"Uploaded {done.image.path.name} to pool '{pool_name}' on {host.label} as "
        f"'{done.name}': {done.image.format}, {_size(done.capacity)} disk, "
        f"{_size(done.image.file_bytes)} sent in {done.seconds:.1f} s "
        f"({_speed(done.image.file_bytes, done.seconds)})."
    )


@dataclass(frozen=True, slots=True)
class Uploaded:
    """A volume made from a local file: its name, the file as probed, the time taken."""

    name: str
    path: str  # the volume's path on the host
    image: imagefile.ImageFile
    capacity: int
    seconds: float


def upload_volume(
    ctx: JobContext,
    host: Host,
    pool_name: str,
    path: str,
    name: str,
    kind: str = "partial volume",
) -> Uploaded:
    """Check, create the volume and stream the file into it, with progress in bytes. The
    volume's clean-up stays registered (the caller keeps it, or a larger job rolls it
    back with its other steps); ``kind`` names it in the job's outcome."""
    action = f"upload {Path(path).name} into pool '{pool_name}'"
    ctx.phase("checking")
    host.require_writable(action)
    image = imagefile.probe(path)
    vol_name = validate_name(name)
    pool = lookup_pool(host, pool_name, action)
    available = free_space(host, pool, action)
    if has_volume(host, pool, vol_name, action):
        raise StorageValueError(
            f"Could not {action} on {host.label}: the pool already has a volume named "
            f"'{vol_name}'; choose another name."
        )
    if image.file_bytes > available:
        raise StorageValueError(
            f"Could not {action} on {host.label}: the file needs {_size(image.file_bytes)} "
            f"and the pool has {_size(available)} available. Free space in the pool or "
            "choose another."
        )
    ctx.check_cancel()

    ctx.phase("creating the volume")
    xml = volume_xml(vol_name, image.virtual_bytes, image.format, allocation=image.file_bytes)
    started = time.monotonic()
    try:
        with image.path.open("rb") as source:
            vol = send_new_volume(
                ctx,
                host,
                pool,
                vol_name,
                xml,
                VolumeSource(source, image.file_bytes, image.path),
                action,
                kind,
            )
    except OSError as exc:
        raise imagefile.ImageFileError(
            f"Could not {action} on {host.label}: reading {image.path} failed: "
            f"{exc.strerror or exc}."
        ) from exc
    seconds = time.monotonic() - started
    capacity = image.virtual_bytes
    with contextlib.suppress(libvirt.libvirtError):
        capacity = int(vol.info()[1])
    return Uploaded(vol_name, str(vol.path()), image, capacity, seconds)


@dataclass(frozen=True, slots=True)
class VolumeSource:
    """What a new volume is filled from: an open binary file (or BytesIO) of known size."""

    file: BinaryIO
    size: int
    path: Path | None = None  # None for bytes made in memory


def send_new_volume(
    ctx: JobContext,
    host: Host,
    pool: libvirt.virStoragePool,
    vol_name: str,
    xml: str,
    source: VolumeSource,
    action: str,
    kind: str = "partial volume",
) -> libvirt.virStorageVol:
    """Create the volume from ``xml`` and stream ``source`` into it. From its creation on,
    a failure or cancel of the job deletes it (a clean-up the caller keeps or not with
    ``ctx.keep()``, so a larger job can roll it back with its other steps); ``kind``
    names it in the job's outcome ("Removed the partial volume 'x' in pool 'p'.")."""
    pool_name = pool.name()
    vol = call_libvirt(host, action, pool.createXML, xml, 0)
    ctx.cleanup(
        f"the {kind} '{vol_name}' in pool '{pool_name}'",
        lambda: delete_volume_retrying(host, pool_name, vol_name),
    )
    ctx.phase("sending")
    conn = host.connection(action)
    stream = call_libvirt(host, action, conn.newStream, 0)
    try:
        call_libvirt(host, action, vol.upload, stream, 0, source.size, 0)
        _send(ctx, host, action, stream, source)
        call_libvirt(host, action, stream.finish)
    except BaseException:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        raise
    return vol


def _send(
    ctx: JobContext, host: Host, action: str, stream: libvirt.virStream, source: VolumeSource
) -> None:
    sent = 0
    ctx.progress(0, source.size)
    while sent < source.size:
        ctx.check_cancel()
        chunk = source.file.read(min(CHUNK, source.size - sent))
        if not chunk:
            what = source.path or "the data"
            raise imagefile.ImageFileError(
                f"Could not {action} on {host.label}: {what} became shorter while it was "
                "being sent."
            )
        written = call_libvirt(host, action, stream.send, chunk)
        while written < len(chunk):  # a short write: send the rest
            written += call_libvirt(host, action, stream.send, chunk[written:])
        sent += len(chunk)
        ctx.progress(sent, source.size)


def free_space(host: Host, pool: libvirt.virStoragePool, action: str) -> int:
    """What the pool has free now: libvirt reports what its last refresh saw, so refresh
    first (refused while another upload runs into the pool; then the last figure serves)."""
    with contextlib.suppress(libvirt.libvirtError):
        pool.refresh(0)
    state, _capacity, _allocation, available = call_libvirt(host, action, pool.info)
    if state != libvirt.VIR_STORAGE_POOL_RUNNING:
        raise StorageValueError(
            f"Could not {action} on {host.label}: the pool is not running; start it first."
        )
    return int(available)


def has_volume(host: Host, pool: libvirt.virStoragePool, name: str, action: str) -> bool:
    try:
        pool.storageVolLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return False
        raise errors.from_libvirt(exc, host=host.label, action=action) from exc
    return True


def delete_volume_retrying(host: Host, pool_name: str, name: str) -> None:
    """Delete the volume; the daemon may still count an aborted upload's stream as a
    user of it for a moment, so "in use" is retried for up to DELETE_RETRY_S."""
    action = f"delete volume '{name}' in pool '{pool_name}'"
    deadline = time.monotonic() + DELETE_RETRY_S
    while True:
        try:
            pool = host.connection(action).storagePoolLookupByName(pool_name)
            pool.storageVolLookupByName(name).delete(0)
            return
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
                return
            if time.monotonic() > deadline:
                raise errors.from_libvirt(exc, host=host.label, action=action) from exc
        time.sleep(0.1)


# -- download ---------------------------------------------------------------------------


def start_download(
    jobs: JobRegistry, host: Host, pool_name: str, vol_name: str, target: str
) -> JobView:
    """Start downloading volume ``vol_name`` to the local ``target`` (a file or folder)."""
    title = f"Download '{vol_name}' from pool '{pool_name}' to {target}"
    return jobs.start(
        host.label, title, lambda ctx: download(ctx, host, pool_name, vol_name, target)
    )


def local_target(target: str, vol_name: str) -> Path:
    """The file a download writes: ``target``, or ``target/vol_name`` for a folder."""
    path = Path(target).expanduser().absolute()
    return path / vol_name if path.is_dir() else path


def download(ctx: JobContext, host: Host, pool_name: str, vol_name: str, target: str) -> str:
    """The download job's body; returns the result sentence."""
    action = f"download volume '{vol_name}' from pool '{pool_name}'"
    ctx.phase("checking")
    # libvirt refuses a stream from a volume on a read-only connection: say so first.
    host.require_writable(action)
    path = local_target(target, vol_name)
    _check_target(path, host, action)
    pool = lookup_pool(host, pool_name, action)
    vol = call_libvirt(host, action, pool.storageVolLookupByName, vol_name)
    _kind, _capacity, physical = call_libvirt(
        host, action, vol.infoFlags, libvirt.VIR_STORAGE_VOL_GET_PHYSICAL
    )
    total = int(physical)
    free = shutil.disk_usage(path.parent).free
    if total > free:
        raise StorageValueError(
            f"Could not {action} on {host.label}: it is {_size(total)} and {path.parent} has "
            f"{_size(free)} free."
        )
    ctx.check_cancel()

    ctx.phase("receiving")
    started = time.monotonic()
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    ctx.cleanup(f"the partial file {partial}", lambda: Path(partial).unlink(missing_ok=True))
    conn = host.connection(action)
    stream = call_libvirt(host, action, conn.newStream, 0)
    try:
        call_libvirt(host, action, vol.download, stream, 0, 0, 0)
        received = _receive(ctx, host, action, stream, fd, total)
        call_libvirt(host, action, stream.finish)
    except BaseException:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        raise
    if path.exists():
        raise StorageValueError(
            f"Could not {action} on {host.label}: {path} appeared while downloading; "
            "kvmtui does not overwrite files."
        )
    os.replace(partial, path)
    ctx.keep()
    seconds = time.monotonic() - started
    return (
        f"Downloaded '{vol_name}' from pool '{pool_name}' on {host.label} to {path}: "
        f"{_size(received)} in {seconds:.1f} s ({_speed(received, seconds)})."
    )


def _check_target(path: Path, host: Host, action: str) -> None:
    where = f"Could not {action} on {host.label}"
    if path.exists():
        raise StorageValueError(
            f"{where}: {path} exists; kvmtui does not overwrite files. Choose another name."
        )
    if not path.parent.is_dir():
        raise StorageValueError(f"{where}: the folder {path.parent} does not exist.")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise StorageValueError(f"{where}: cannot write into {path.parent}.")


def _receive(
    ctx: JobContext, host: Host, action: str, stream: libvirt.virStream, fd: int, total: int
) -> int:
    received = 0
    ctx.progress(0, total)
    with os.fdopen(fd, "wb") as out:
        while True:
            if ctx.cancelled:
                raise JobCancelled
            data = call_libvirt(host, action, stream.recv, CHUNK)
            if isinstance(data, int) or not data:  # b"": the end; ints only on NONBLOCK
                break
            try:
                out.write(data)
            except OSError as exc:
                raise StorageValueError(
                    f"Could not {action} on {host.label}: writing the local file failed: "
                    f"{exc.strerror or exc}."
                ) from exc
            received += len(data)
            ctx.progress(received, max(total, received))
    return received
