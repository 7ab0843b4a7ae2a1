"""The NoCloud seed: an ISO 9660 image labelled ``cidata`` holding ``user-data``,
``meta-data`` and optionally ``network-config``, built in memory and uploaded into a
host's storage pool as a volume over a libvirt stream (so remote hosts work like the
local one; nothing is written to a local or a host path).

Built with pycdlib (pure Python): Rock Ridge and Joliet carry the real file names, the
plain ISO 9660 names are short upper-case ones that no reader uses. cloud-init finds the
seed by its volume label on any block device (a virtio disk or a SCSI CD-ROM).

:func:`upload_seed` is a step of a job (the creation job, or :func:`start_seed_upload`
alone): from the volume's creation on, a failure or cancel of that job deletes it, and
:func:`delete_seed` removes it later (a rollback after a later step failed).
:func:`read_seed_volume` reads a seed back (the details' ``ssh USER@IP`` line takes the
user from its ``user-data``).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable

import libvirt
import pycdlib
import pycdlib.pycdlibexception
import yaml

from kvmtui.backend.cloudinit import SeedFiles
from kvmtui.backend.create_spec import VolumeRef
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobContext, JobRegistry, JobView
from kvmtui.backend.storage import (
    StorageValueError,
    Volume,
    call_libvirt,
    lookup_pool,
    validate_name,
    volume_xml,
)
from kvmtui.backend.transfer import (
    VolumeSource,
    delete_volume_retrying,
    free_space,
    has_volume,
    send_new_volume,
)

#: The volume label cloud-init's NoCloud datasource looks for.
SEED_LABEL = "cidata"
#: The seed volume of guest NAME is NAME + this, beside its disks.
SEED_SUFFIX = "-cidata.iso"
#: ISO 9660 level-1 names (8.3, upper case) under the Rock Ridge and Joliet names.
_ISO_NAMES = {"user-data": "USERDATA.;1", "meta-data": "METADATA.;1",
              "network-config": "NETWORKC.;1"}  # fmt: skip


def seed_volume_name(guest: str) -> str:
    return f"{guest}{SEED_SUFFIX}"


def build_iso(files: SeedFiles) -> bytes:
    """The seed ISO's bytes (about 70 KiB, most of it ISO 9660's fixed areas)."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=SEED_LABEL)
    try:
        for name, text in files.named().items():
            data = text.encode()
            iso.add_fp(
                io.BytesIO(data),
                len(data),
                iso_path=f"/{_ISO_NAMES[name]}",
                rr_name=name,
                joliet_path=f"/{name}",
            )
        out = io.BytesIO()
        iso.write_fp(out)
    finally:
        iso.close()
    return out.getvalue()


def upload_seed(
    ctx: JobContext, host: Host, pool_name: str, vol_name: str, files: SeedFiles
) -> Volume:
    """Build the seed and upload it as the new raw volume ``vol_name``; returns it.

    Refused before anything is made: a read-only connection, a bad or taken name, a pool
    not running or too full. The caller's job keeps the volume (``ctx.keep()``) once all
    of its steps are done; until then its failure deletes the seed.
    """
    action = f"upload the cloud-init seed '{vol_name}' into pool '{pool_name}'"
    ctx.phase("building the cloud-init seed")
    host.require_writable(action)
    name = validate_name(vol_name)
    data = build_iso(files)
    pool = lookup_pool(host, pool_name, action)
    if has_volume(host, pool, name, action):
        raise StorageValueError(
            f"Could not {action} on {host.label}: the pool already has a volume named "
            f"'{name}'; choose another name."
        )
    if len(data) > free_space(host, pool, action):
        raise StorageValueError(
            f"Could not {action} on {host.label}: the pool has less than {len(data)} bytes "
            "available."
        )
    ctx.check_cancel()
    ctx.phase("uploading the cloud-init seed")
    xml = volume_xml(name, len(data), "raw", allocation=len(data))
    source = VolumeSource(io.BytesIO(data), len(data))
    vol = send_new_volume(ctx, host, pool, name, xml, source, action, "cloud-init seed")
    return Volume(
        pool=pool_name,
        name=name,
        path=call_libvirt(host, action, vol.path),
        format="raw",
        capacity_bytes=len(data),
        allocation_bytes=len(data),
    )


def seed_maker(
    pool_name: str, vol_name: str, files: SeedFiles
) -> Callable[[JobContext, Host], VolumeRef]:
    """The creation job's seed step (``create.SeedMaker``): upload ``files`` as the seed
    volume ``pool_name``/``vol_name`` of the job's host, inside the job (rolled back with
    its other steps)."""

    def make(ctx: JobContext, host: Host) -> VolumeRef:
        volume = upload_seed(ctx, host, pool_name, vol_name, files)
        return VolumeRef(volume.pool, volume.name)

    return make


def start_seed_upload(
    jobs: JobRegistry, host: Host, pool_name: str, vol_name: str, files: SeedFiles
) -> JobView:
    """Upload a seed as a job of its own (the volume is kept when it succeeds)."""

    def body(ctx: JobContext) -> str:
        volume = upload_seed(ctx, host, pool_name, vol_name, files)
        ctx.keep()
        return (
            f"Uploaded the cloud-init seed to pool '{pool_name}' on {host.label} as "
            f"'{volume.name}' ({volume.capacity_bytes // 1024} KiB)."
        )

    title = f"Upload the cloud-init seed to pool '{pool_name}' as '{vol_name}'"
    return jobs.start(host.label, title, body)


def delete_seed(host: Host, pool_name: str, vol_name: str) -> None:
    """Delete the seed volume (gone already is fine): a rollback, or after first boot."""
    host.require_writable(f"delete the cloud-init seed '{vol_name}' in pool '{pool_name}'")
    delete_volume_retrying(host, pool_name, vol_name)


#: A seed larger than this is not one kvmtui made (its seeds are about 70 KiB).
SEED_READ_MAX = 4 * 1024 * 1024


def read_seed_volume(host: Host, pool_name: str, vol_name: str) -> dict[str, str]:
    """The files of the seed volume (``user-data``, ``meta-data``...), read back over a
    libvirt stream (remote hosts too). libvirt refuses streams on read-only connections,
    so this is refused there first."""
    action = f"read the cloud-init seed '{vol_name}' in pool '{pool_name}'"
    host.require_writable(action)
    pool = lookup_pool(host, pool_name, action)
    vol = call_libvirt(host, action, pool.storageVolLookupByName, vol_name)
    _kind, capacity, _allocation = call_libvirt(host, action, vol.info)
    if int(capacity) > SEED_READ_MAX:
        raise StorageValueError(
            f"Could not {action} on {host.label}: it is {capacity} bytes, not a seed kvmtui made."
        )
    conn = host.connection(action)
    stream = call_libvirt(host, action, conn.newStream, 0)
    chunks: list[bytes] = []
    try:
        call_libvirt(host, action, vol.download, stream, 0, 0, 0)
        call_libvirt(host, action, stream.recvAll, lambda _s, data, out: out.append(data), chunks)
        call_libvirt(host, action, stream.finish)
    except BaseException:
        with contextlib.suppress(libvirt.libvirtError):
            stream.abort()
        raise
    return iso_files(b"".join(chunks))


def iso_files(data: bytes) -> dict[str, str]:
    """The seed ISO's files by their Rock Ridge (or Joliet) names."""
    iso = pycdlib.PyCdlib()
    found: dict[str, str] = {}
    try:
        iso.open_fp(io.BytesIO(data))
        for name in _ISO_NAMES:
            out = io.BytesIO()
            for where in ({"rr_path": f"/{name}"}, {"joliet_path": f"/{name}"}):
                with contextlib.suppress(pycdlib.pycdlibexception.PyCdlibException):
                    iso.get_file_from_iso_fp(out, **where)
                    found[name] = out.getvalue().decode("utf-8", "replace")
                    break
    except pycdlib.pycdlibexception.PyCdlibException as exc:
        raise StorageValueError(f"The seed is not an ISO 9660 image kvmtui reads: {exc}.") from exc
    finally:
        with contextlib.suppress(pycdlib.pycdlibexception.PyCdlibException):
            iso.close()
    return found


def seed_user(user_data: str) -> str | None:
    """The first user the seed's cloud-config creates (``users:`` entries with a name, or
    ``user:``), None when it names none (cloud-init's distribution default)."""
    try:
        config = yaml.safe_load(user_data)
    except yaml.YAMLError:
        return None
    if not isinstance(config, dict):
        return None
    for entry in config.get("users") or ():
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            return str(entry["name"])
    user = config.get("user")
    if isinstance(user, dict):
        user = user.get("name")
    return user if isinstance(user, str) else None
