"""Create a guest: what the host offers, the checks before anything is made, the job.

:func:`read_facts` gathers what the new-guest wizard shows (pools with free space,
networks and whether they run, guest names, CPUs and memory, UEFI and KVM support).
:func:`preflight` refuses a spec, with one sentence, before anything is created: a
read-only connection, a bad or taken name, a missing or unreadable image, a pool too
small, UEFI without OVMF, a network that is not running, a bridge or macvtap interface
the host does not have, PXE on a network that cannot boot it. :func:`start_create` runs the
creation as a job (backend/jobs.py) in steps with progress: a local image file uploaded
into a pool (:class:`LocalUpload`, through the upload of backend/transfer.py, its bytes in
the phase), the new volumes, the cloud-init seed (made by the caller's hook, inside the
job), the definition, the start.
Whatever the job made is removed if a later step fails or the job is cancelled.

Every call here blocks (RPCs): run it in a worker or in the job.
"""

from __future__ import annotations

import contextlib
import os
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, replace

import libvirt

from kvmtui.backend import errors, imagefile, uri
from kvmtui.backend.clone_job import watch_copy
from kvmtui.backend.create_spec import (
    DiskKind,
    Firmware,
    NetworkKind,
    NewGuest,
    SeedSpec,
    SpecError,
    VolumeRef,
    check_spec,
    domain_xml,
)
from kvmtui.backend.guest_name import GuestNameError, check_guest_name
from kvmtui.backend.host import Host
from kvmtui.backend.hoststats import node_info
from kvmtui.backend.jobs import JobContext, JobRegistry, JobView
from kvmtui.backend.storage import (
    Pool,
    call_libvirt,
    list_pools,
    validate_name,
    volume_users,
    volume_xml,
)
from kvmtui.backend.throttle import binary_text
from kvmtui.backend.transfer import delete_volume_retrying, upload_volume

#: Room a new thin qcow2 volume takes at once (its header and tables).
THIN_BYTES = 1024 * 1024
UNDEFINE_FLAGS = libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE

#: Called by the job inside the seed step; makes the seed volume (registering its own
#: clean-up with ``ctx.cleanup`` for anything it half makes) and returns it.
SeedMaker = Callable[[JobContext, Host], VolumeRef]
#: Called after each step ("volumes", "seed", "definition") has done its work.
Checkpoint = Callable[[str], None]


class CreateRefused(errors.KvmtuiError):
    """The guest was not created; nothing was made. The message says why."""


@dataclass(frozen=True, slots=True)
class LocalUpload:
    """A file on the machine kvmtui runs on, uploaded by the create job as its first step
    into ``pool`` as volume ``name``; the spec's disks name it as ``ref``."""

    path: str
    pool: str
    name: str

    @property
    def ref(self) -> VolumeRef:
        return VolumeRef(self.pool, self.name)


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    name: str
    active: bool
    forward: str | None  # nat, route, bridge... None: isolated


@dataclass(frozen=True, slots=True)
class HostFacts:
    """What the wizard shows about the host and checks as the admin types."""

    host: str
    guest_names: frozenset[str]
    pools: tuple[Pool, ...]
    networks: tuple[NetworkInfo, ...]
    cpus: int
    memory_kib: int
    uefi: bool
    uefi_reason: str | None  # why UEFI is not offered
    kvm: bool  # the hypervisor offers type='kvm'
    interfaces: HostInterfaces | None = None  # for the summary's bridge/macvtap warning

    def pool(self, name: str) -> Pool | None:
        return next((p for p in self.pools if p.name == name), None)


@dataclass(frozen=True, slots=True)
class Image:
    """A disk's existing volume or file, as found on the host."""

    ref: VolumeRef
    path: str
    format: str | None
    capacity_bytes: int
    allocation_bytes: int
    vol: libvirt.virStorageVol | None  # None: a file no pool knows


@dataclass(frozen=True, slots=True)
class Plan:
    """A spec that passed the checks, with the images it uses (by disk index)."""

    spec: NewGuest
    images: dict[int, Image]
    warnings: tuple[str, ...] = ()  # what may not work, said with the result; not refused

    @property
    def formats(self) -> dict[int, str]:
        return {i: image.format for i, image in self.images.items() if image.format}

    @property
    def image_paths(self) -> dict[int, str]:
        return {i: image.path for i, image in self.images.items()}


def _size(n: int) -> str:
    return binary_text(n, "B") if n else "0 B"


# -- what the host offers ---------------------------------------------------------------


def _uefi(conn: libvirt.virConnect, spec_type: str, machine: str | None) -> tuple[bool, str | None]:
    """Whether the host's QEMU has UEFI firmware (OVMF) for x86_64, from libvirt's domain
    capabilities (so it is the remote host's answer on a remote connection)."""
    try:
        caps = conn.getDomainCapabilities(None, "x86_64", machine, spec_type, 0)
    except libvirt.libvirtError as exc:
        return False, f"UEFI is not offered: the host's firmware list could not be read ({exc})."
    return uefi_in_capabilities(caps)


def uefi_in_capabilities(caps_xml: str) -> tuple[bool, str | None]:
    """UEFI is offered when the domain capabilities list the firmware ``efi`` (libvirt
    found a firmware descriptor under /usr/share/qemu/firmware) or a loader path under
    ``<os><loader>``; else the sentence saying why not."""
    try:
        caps = ET.fromstring(caps_xml)
    except ET.ParseError as exc:
        return False, f"UEFI is not offered: the host's firmware list could not be read ({exc})."
    firmwares = {v.text for v in caps.iterfind("os/enum[@name='firmware']/value")}
    loaders = [v.text for v in caps.iterfind("os/loader/value") if v.text]
    if "efi" in firmwares or loaders:
        return True, None
    return False, (
        "UEFI is not offered: the host has no UEFI firmware for QEMU (OVMF); "
        "install the package ovmf on the host to offer it."
    )


def _kvm(conn: libvirt.virConnect) -> bool:
    try:
        caps = ET.fromstring(conn.getCapabilities())
    except (libvirt.libvirtError, ET.ParseError):
        return False
    return any(
        domain.get("type") == "kvm"
        for arch in caps.iterfind("guest/arch[@name='x86_64']")
        for domain in arch.iterfind("domain")
    )


def _networks(conn: libvirt.virConnect) -> tuple[NetworkInfo, ...]:
    found = []
    for net in conn.listAllNetworks(0):
        forward = ET.fromstring(net.XMLDesc(0)).find("forward")
        found.append(
            NetworkInfo(
                net.name(), bool(net.isActive()), forward.get("mode", "nat") if forward else None
            )
        )
    return tuple(sorted(found, key=lambda n: n.name))


def _guest_names(conn: libvirt.virConnect) -> frozenset[str]:
    return frozenset(dom.name() for dom in conn.listAllDomains(0))


def read_facts(host: Host, domain_type: str = "kvm") -> HostFacts:
    action = "read what a new guest can use"
    conn = host.connection(action)
    try:
        names = _guest_names(conn)
        node = node_info(conn)
        networks = _networks(conn)
        kvm = _kvm(conn)
        uefi, reason = _uefi(conn, domain_type if kvm else "qemu", None)
        interfaces = host_interfaces(conn)
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action) from exc
    return HostFacts(
        host=host.label,
        guest_names=names,
        pools=list_pools(host),
        networks=networks,
        cpus=node.cpus,
        memory_kib=node.memory_kib,
        uefi=uefi,
        uefi_reason=reason,
        kvm=kvm,
        interfaces=interfaces,
    )


# -- the checks -------------------------------------------------------------------------


def _volume_format(vol: libvirt.virStorageVol) -> str | None:
    target = ET.fromstring(vol.XMLDesc(0)).find("target/format")
    return target.get("type") if target is not None else None


def _local(host: Host) -> bool:
    return not uri.is_remote(host.uri)


def find_image(host: Host, ref: VolumeRef, what: str, action: str) -> Image:
    """The volume or file ``ref`` names; refused when missing or unreadable."""
    conn = host.connection(action)
    where = f"Could not {action} on {host.label}"
    vol: libvirt.virStorageVol | None = None
    try:
        if ref.pool and ref.name:
            vol = conn.storagePoolLookupByName(ref.pool).storageVolLookupByName(ref.name)
        else:
            vol = conn.storageVolLookupByPath(str(ref.path))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() not in (
            libvirt.VIR_ERR_NO_STORAGE_VOL,
            libvirt.VIR_ERR_NO_STORAGE_POOL,
        ):
            raise errors.from_libvirt(exc, host=host.label, action=action) from exc
    if vol is not None:
        try:
            _kind, capacity, allocation = vol.info()
            return Image(ref, vol.path(), _volume_format(vol), int(capacity), int(allocation), vol)
        except libvirt.libvirtError as exc:
            raise CreateRefused(
                f"{where}: {what} {ref.text} cannot be read: {exc.get_error_message()}."
            ) from exc
    path = str(ref.path or "")
    if not ref.path or not _local(host) or not os.path.exists(path):
        raise CreateRefused(
            f"{where}: {what} {ref.text} does not exist"
            + (" in any pool" if ref.path and not _local(host) else "")
            + "; choose an existing volume, or refresh the pool that holds it."
        )
    if not os.access(path, os.R_OK):
        raise CreateRefused(f"{where}: {what} {path} is not readable.")
    from kvmtui.backend import imagefile  # a local file no pool knows: read its header

    try:
        probed = imagefile.probe(path)
    except errors.KvmtuiError as exc:
        raise CreateRefused(f"{where}: {what} {path}: {exc}") from exc
    return Image(ref, path, probed.format, probed.virtual_bytes, probed.file_bytes, None)


def _refuse(where: str, sentence: str) -> CreateRefused:
    return CreateRefused(f"{where}: {sentence}")


def preflight(
    host: Host, spec: NewGuest, *, new_seed: bool = False, upload: LocalUpload | None = None
) -> Plan:
    """Check the spec against the host; raises :class:`CreateRefused` (or ReadOnlyError)
    with one sentence, having created nothing. ``new_seed``: the job makes the spec's seed
    volume (its pool must run and its name be free), else the seed must exist.
    ``upload``: the job uploads that local file first (it must be a readable qcow2 or raw
    file, its pool run, its name be free and the pool have room for it); the disks that
    name its ``ref`` are checked against the file."""
    action = f"create guest '{spec.name}'"
    where = f"Could not {action} on {host.label}"
    host.require_writable(action)
    try:
        check_spec(spec)
    except SpecError as exc:
        raise _refuse(where, str(exc)) from exc
    conn = host.connection(action)
    try:
        check_guest_name(spec.name, _guest_names(conn), host.label)
    except GuestNameError as exc:
        raise _refuse(where, str(exc)) from exc
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action) from exc
    pools = {pool.name: pool for pool in list_pools(host)}
    images: dict[int, Image] = {}
    needs: dict[str, int] = {}
    uploaded = _upload_image(where, pools, upload) if upload is not None else None
    if upload is not None and uploaded is not None:
        needs[upload.pool] = uploaded.allocation_bytes
    users = None
    for index, disk in enumerate(spec.disks):
        label = f"disk {index + 1}"
        if disk.source is not None and uploaded is not None and disk.source == uploaded.ref:
            images[index] = image = uploaded
        elif disk.source is not None:
            what = "the disk" if disk.kind is DiskKind.IMPORT else "the image"
            images[index] = image = find_image(host, disk.source, what, action)
            if disk.kind is not DiskKind.IMPORT and image.format not in ("qcow2", "raw"):
                kind = image.format or "of an unknown format"
                raise _refuse(where, f"the image {disk.source.text} is {kind}, not qcow2 or raw.")
            if disk.size_bytes and disk.size_bytes < image.capacity_bytes:
                raise _refuse(
                    where,
                    f"{label} of {_size(disk.size_bytes)} is smaller than the image's "
                    f"{_size(image.capacity_bytes)}; give it at least that.",
                )
            if disk.kind is DiskKind.COPY and image.vol is None and image is not uploaded:
                raise _refuse(where, f"a copy needs the image {image.path} as a volume in a pool.")
            if disk.kind is DiskKind.OVERLAY and image is not uploaded:
                users = users if users is not None else volume_users(conn)
                writers = users.get(image.path, ()) + (
                    users.get(disk.source.text, ()) if disk.source.pool else ()
                )
                if writers:
                    raise _refuse(
                        where,
                        f"the image {disk.source.text} is a disk of guest "
                        f"{', '.join(u.name for u in writers)}, which would write to it under "
                        "the overlay; use a copy, or an image no guest uses.",
                    )
        if not disk.creates_volume:
            continue
        pool = pools.get(str(disk.pool))
        if pool is None:
            raise _refuse(where, f"there is no storage pool '{disk.pool}'.")
        if not pool.active:
            raise _refuse(where, f"the storage pool '{pool.name}' is not running; start it first.")
        name = spec.volume_name(index)
        try:
            validate_name(name, pool)
        except errors.KvmtuiError as exc:
            raise _refuse(where, f"{label}: {exc}") from exc
        if disk.kind is DiskKind.COPY:
            need = images[index].allocation_bytes
        elif disk.preallocate and disk.kind is DiskKind.EMPTY:
            need = disk.size_bytes or 0
        else:
            need = THIN_BYTES
        needs[pool.name] = needs.get(pool.name, 0) + need
    for pool_name, need in needs.items():
        available = pools[pool_name].available_bytes
        if need > available:
            raise _refuse(
                where,
                f"the new volumes need {_size(need)} in pool '{pool_name}', which has "
                f"{_size(available)} available; free space or choose another pool.",
            )
    seed_ref = spec.seed.volume if spec.seed else None
    if new_seed and seed_ref is not None and seed_ref.pool and seed_ref.name:
        _seed_room(where, pools.get(seed_ref.pool), seed_ref)
    for ref, what in ((spec.cdrom, "the ISO"), (None if new_seed else seed_ref, "the seed")):
        if ref is not None:
            find_image(host, ref, what, action)
    if spec.firmware is Firmware.UEFI:
        uefi, reason = _uefi(conn, spec.domain_type, spec.machine_type)
        if not uefi:
            raise _refuse(where, reason or "the host has no UEFI firmware.")
    networks = {n.name: n for n in _networks_or_refuse(host, conn, action)}
    warnings: list[str] = []
    for nic in spec.networks:
        if nic.kind in (NetworkKind.BRIDGE, NetworkKind.DIRECT):
            checked = host_interface_check(conn, nic.kind, str(nic.source))
            if checked.problem:
                raise _refuse(where, checked.problem)
            if checked.warning:
                warnings.append(checked.warning)
        if nic.kind is not NetworkKind.NETWORK:
            continue
        known = networks.get(str(nic.source))
        if known is None:
            raise _refuse(where, f"there is no network '{nic.source}'.")
        if not known.active:
            raise _refuse(
                where, f"the network '{nic.source}' is not active; start it (virsh net-start)."
            )
    if spec.boot_network:
        problem = _pxe_problem(host, conn, spec, action)
        if problem:
            raise _refuse(where, problem)
    if spec.direct_boot is not None and _local(host):
        for path in (spec.direct_boot.kernel, spec.direct_boot.initrd):
            if path and not os.access(path, os.R_OK):
                raise _refuse(where, f"the kernel or initrd {path} is missing or unreadable.")
    return Plan(spec, images, tuple(warnings))


def _upload_image(where: str, pools: dict[str, Pool], upload: LocalUpload) -> Image:
    """The local file the job will upload, as an image (its path the local one)."""
    try:
        probed = imagefile.probe(upload.path)
    except imagefile.ImageFileError as exc:
        raise _refuse(where, f"the local image: {exc}") from exc
    pool = pools.get(upload.pool)
    if pool is None:
        raise _refuse(where, f"there is no storage pool '{upload.pool}' for the local image.")
    if not pool.active:
        raise _refuse(where, f"the storage pool '{pool.name}' is not running; start it first.")
    try:
        validate_name(upload.name, pool)
    except errors.KvmtuiError as exc:
        raise _refuse(where, f"the local image: {exc}") from exc
    return Image(
        upload.ref, str(probed.path), probed.format, probed.virtual_bytes, probed.file_bytes, None
    )


def _seed_room(where: str, pool: Pool | None, ref: VolumeRef) -> None:
    """The seed the job will upload has a running pool and a free name."""
    if pool is None:
        raise _refuse(where, f"there is no storage pool '{ref.pool}' for the cloud-init seed.")
    if not pool.active:
        raise _refuse(where, f"the storage pool '{pool.name}' is not running; start it first.")
    try:
        validate_name(str(ref.name), pool)
    except errors.KvmtuiError as exc:
        raise _refuse(where, f"the cloud-init seed: {exc}") from exc


@dataclass(frozen=True, slots=True)
class HostInterfaces:
    """The host's network interfaces as libvirt sees them, from two places that can each
    miss some: the interface driver (``listAllInterfaces``: name and type; with the netcf
    backend, RHEL 8, only the configured interfaces, so not a bridge made at runtime with
    ``ip link``, and an Open vSwitch bridge typed "ethernet") and the node devices of
    class net (every kernel interface the node-device driver saw, no type). None: that
    place did not answer."""

    listed: dict[str, str | None] | None
    devices: frozenset[str] | None

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.listed or ()) | (self.devices or frozenset())


def _interface_type(iface: libvirt.virInterface) -> str | None:
    try:
        return ET.fromstring(iface.XMLDesc(0)).get("type")
    except (libvirt.libvirtError, ET.ParseError):
        return None


def host_interfaces(conn: libvirt.virConnect) -> HostInterfaces | None:
    """The host's network interfaces from both of libvirt's lists; None when neither
    answers (nothing to check against). libvirt calls, so a remote host answers for
    itself."""
    listed: dict[str, str | None] | None
    try:
        listed = {iface.name(): _interface_type(iface) for iface in conn.listAllInterfaces(0)}
    except libvirt.libvirtError:
        listed = None  # no interface driver on that host
    devices: frozenset[str] | None
    try:
        found = conn.listAllDevices(libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET)
        names = (ET.fromstring(d.XMLDesc(0)).findtext("capability/interface") for d in found)
        devices = frozenset(name for name in names if name)
    except (libvirt.libvirtError, ET.ParseError):
        devices = None
    if listed is None and devices is None:
        return None
    return HostInterfaces(listed, devices)


@dataclass(frozen=True, slots=True)
class InterfaceCheck:
    """A bridge or direct NIC's host interface checked: ``problem`` refuses the guest
    (the name is nowhere), ``warning`` only tells (libvirt's lists disagree with the
    NIC, but they can be wrong: the admin may go on)."""

    problem: str | None = None
    warning: str | None = None


def check_host_interface(
    interfaces: HostInterfaces | None, kind: NetworkKind, name: str
) -> InterfaceCheck:
    """Whether a bridge or direct (macvtap) NIC on host interface ``name`` can work."""
    if interfaces is None:
        return InterfaceCheck()  # the host cannot list its interfaces: libvirt's start will say
    what = "bridge" if kind is NetworkKind.BRIDGE else "interface"
    if name not in interfaces.names:
        known = ", ".join(sorted(interfaces.names)) or "none"
        return InterfaceCheck(
            f"the host has no {what} '{name}' (its interfaces: {known}); "
            + ("create the bridge first, or choose a libvirt network." if what == "bridge"
               else "choose one of them.")
        )  # fmt: skip
    listed = interfaces.listed
    if listed is not None and name not in listed:
        return InterfaceCheck(
            warning=f"the host's {what} '{name}' is not in libvirt's interface list (made at "
            "runtime, or the netcf backend lists configured interfaces only), only among its "
            "network devices"
            + ("; check it is a bridge." if what == "bridge" else ".")
        )
    if kind is NetworkKind.BRIDGE and listed is not None and listed[name] not in (None, "bridge"):
        return InterfaceCheck(
            warning=f"libvirt lists the host's interface '{name}' as {listed[name]}, not as a "
            "bridge (an Open vSwitch bridge is listed so); if it is not a bridge the guest "
            "will not start: attach it to a bridge, or use a direct (macvtap) NIC on it."
        )
    return InterfaceCheck()


def host_interface_check(conn: libvirt.virConnect, kind: NetworkKind, name: str) -> InterfaceCheck:
    """:func:`check_host_interface` against the host's lists read now."""
    return check_host_interface(host_interfaces(conn), kind, name)


#: Network forward modes whose DHCP is not libvirt's (the host's LAN answers PXE, if any).
_OUTSIDE_DHCP = frozenset({"bridge", "passthrough", "private", "vepa", "hostdev"})


def network_boot_problem(network_xml: str) -> str | None:
    """Why a guest on this libvirt network cannot boot by PXE, or None. libvirt's own DHCP
    boots a guest only when it hands out a boot file (``<dhcp><bootp file=.../>``, with
    ``<tftp>`` when it serves that file itself); a network whose DHCP is the LAN's (a
    bridge or macvtap forward) is left to the LAN."""
    root = ET.fromstring(network_xml)
    name = root.findtext("name") or "?"
    forward = root.find("forward")
    if forward is not None and forward.get("mode") in _OUTSIDE_DHCP:
        return None
    if not root.findall("ip/dhcp"):
        return (
            f"the network '{name}' has no DHCP, so a guest on it cannot boot by PXE; "
            "choose a network with DHCP and a boot file, or another source."
        )
    bootp = root.find("ip/dhcp/bootp[@file]")
    if bootp is None:
        return (
            f"the network '{name}' hands out no boot file (no <bootp file=...> in its DHCP), "
            "so a guest on it cannot boot by PXE; add one (and <tftp>) or choose another source."
        )
    if bootp.get("server") is None and root.find("ip/tftp") is None:
        return (
            f"the network '{name}' names a boot file but serves it from nowhere (no <tftp> "
            "and no bootp server), so a guest on it cannot boot by PXE."
        )
    return None


def _pxe_problem(host: Host, conn: libvirt.virConnect, spec: NewGuest, action: str) -> str | None:
    nics = [n for n in spec.networks if n.kind is not NetworkKind.NONE]
    if not nics:
        return "network boot (PXE) needs a NIC; choose a network."
    first = nics[0]  # the NIC firmware boots from
    if first.kind is not NetworkKind.NETWORK:
        return None  # a bridge or macvtap: the LAN's DHCP and boot server, if any
    try:
        xml = conn.networkLookupByName(str(first.source)).XMLDesc(0)
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action) from exc
    return network_boot_problem(xml)


def _networks_or_refuse(
    host: Host, conn: libvirt.virConnect, action: str
) -> tuple[NetworkInfo, ...]:
    try:
        return _networks(conn)
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action) from exc


# -- the job ----------------------------------------------------------------------------


def start_create(
    jobs: JobRegistry,
    host: Host,
    spec: NewGuest,
    *,
    make_seed: SeedMaker | None = None,
    checkpoint: Checkpoint | None = None,
    upload: LocalUpload | None = None,
) -> JobView:
    """Create the guest as a job (steps: upload, volumes, seed, definition, start)."""
    return jobs.start(
        host.label,
        f"Create guest '{spec.name}'",
        lambda ctx: create(
            ctx, host, spec, make_seed=make_seed, checkpoint=checkpoint, upload=upload
        ),
        unit="steps",
    )


def create(
    ctx: JobContext,
    host: Host,
    spec: NewGuest,
    *,
    make_seed: SeedMaker | None = None,
    checkpoint: Checkpoint | None = None,
    upload: LocalUpload | None = None,
) -> str:
    """The job's body; returns the result sentence."""
    action = f"create guest '{spec.name}'"
    passed = checkpoint or (lambda _step: None)
    ctx.phase("checking")
    plan = preflight(host, spec, new_seed=make_seed is not None, upload=upload)
    new_disks = [i for i, d in enumerate(spec.disks) if d.creates_volume]
    total = (
        (1 if upload else 0)
        + len(new_disks)
        + (1 if make_seed else 0)
        + 1
        + (1 if spec.start else 0)
    )
    done = 0
    ctx.progress(done, total)
    ctx.check_cancel()

    if upload is not None:
        label = f"uploading {os.path.basename(upload.path)} into pool '{upload.pool}'"
        ctx.phase(label)
        upload_volume(BytesInPhase(ctx, label), host, upload.pool, upload.path, upload.name,
                      kind="uploaded image")  # fmt: skip
        done += 1
        ctx.progress(done, total)
        ctx.check_cancel()
        passed("upload")
        plan = preflight(host, spec, new_seed=make_seed is not None)  # the volume is there

    for index in new_disks:
        disk = spec.disks[index]
        name = spec.volume_name(index)
        ctx.phase(f"creating volume '{name}' ({disk.kind})")
        _make_volume(ctx, host, plan, index, action)
        done += 1
        ctx.progress(done, total)
        ctx.check_cancel()
    passed("volumes")

    if make_seed is not None:
        ctx.phase("making the cloud-init seed")
        seed = make_seed(ctx, host)
        if seed.pool and seed.name:
            ctx.cleanup(f"the seed volume '{seed.name}' in pool '{seed.pool}'",
                        _deleter(host, seed.pool, seed.name))  # fmt: skip
        # The spec's bus and detach mark stay; the volume is the one made.
        attached = replace(spec.seed, volume=seed) if spec.seed is not None else SeedSpec(seed)
        spec = replace(spec, seed=attached)
        done += 1
        ctx.progress(done, total)
        ctx.check_cancel()
        passed("seed")

    ctx.phase("defining the guest")
    conn = host.connection(action)
    xml = domain_xml(spec, plan.formats)
    dom = call_libvirt(host, action, conn.defineXML, xml)
    ctx.cleanup(f"the definition of '{spec.name}'", lambda: _undefine(dom))
    done += 1
    ctx.progress(done, total)
    passed("definition")
    ctx.check_cancel()

    if spec.start:
        ctx.phase("starting the guest")
        call_libvirt(host, action, dom.create)
        done += 1
        ctx.progress(done, total)
    ctx.keep()
    volumes = [f"'{spec.volume_name(i)}'" for i in new_disks]
    made = (
        f" with new volume{'s' if len(volumes) > 1 else ''} {', '.join(volumes)}" if volumes else ""
    )
    return (
        f"Created guest '{spec.name}' on {host.label}{made}: {spec.vcpus} vCPU"
        f"{'s' if spec.vcpus > 1 else ''}, {spec.memory_mib} MiB"
        + ("; started." if spec.start else "; not started.")
        + "".join(f" Warning: {warning}" for warning in plan.warnings)
    )


class BytesInPhase(JobContext):
    """A step that reports bytes (an upload) inside a job counted in steps: its figures
    go into the phase ("uploading x into pool 'p': 12 MiB of 40 MiB"), at most once per
    whole percent; the job's step count stays. Clean-ups and cancel are the job's."""

    def __init__(self, outer: JobContext, label: str) -> None:
        super().__init__(outer._job)
        self._label = label
        self._shown = -1

    def phase(self, text: str) -> None:
        super().phase(f"{self._label}: {text}")

    def progress(self, done: int, total: int | None = None) -> None:
        percent = done * 100 // total if total else -1
        if percent == self._shown:
            return
        self._shown = percent
        figure = f"{_size(done)} of {_size(total)}" if total else _size(done)
        super().phase(f"{self._label}: {figure}")


def _deleter(host: Host, pool: str, name: str) -> Callable[[], None]:
    return lambda: delete_volume_retrying(host, pool, name)


def _make_volume(ctx: JobContext, host: Host, plan: Plan, index: int, action: str) -> None:
    spec = plan.spec
    disk = spec.disks[index]
    name = spec.volume_name(index)
    conn = host.connection(action)
    pool = call_libvirt(host, action, conn.storagePoolLookupByName, str(disk.pool))
    image = plan.images.get(index)
    if disk.kind is DiskKind.EMPTY:
        size = int(disk.size_bytes or 0)
        xml = volume_xml(name, size, disk.format, sparse=not disk.preallocate)
        call_libvirt(host, action, pool.createXML, xml, 0)
    elif disk.kind is DiskKind.OVERLAY:
        assert image is not None
        size = max(disk.size_bytes or 0, image.capacity_bytes)
        call_libvirt(host, action, pool.createXML, overlay_xml(name, size, image), 0)
    else:
        assert image is not None and image.vol is not None
        xml = volume_xml(name, image.capacity_bytes, disk.format, sparse=not disk.preallocate)
        vol = _copy(BytesInPhase(ctx, f"creating volume '{name}' ({disk.kind})"), host,
                    pool, xml, image, name, action)  # fmt: skip
        _made(ctx, host, str(disk.pool), name)  # before the resize: its failure removes it
        if disk.size_bytes and disk.size_bytes > image.capacity_bytes:
            call_libvirt(host, action, vol.resize, disk.size_bytes, 0)
        return
    _made(ctx, host, str(disk.pool), name)


def _made(ctx: JobContext, host: Host, pool: str, name: str) -> None:
    """The volume exists: a later failure of the job removes it."""
    ctx.cleanup(f"the volume '{name}' in pool '{pool}'", _deleter(host, pool, name))


def _copy(
    ctx: JobContext,
    host: Host,
    pool: libvirt.virStoragePool,
    xml: str,
    image: Image,
    name: str,
    action: str,
) -> libvirt.virStorageVol:
    """createXMLFrom reports no progress of its own: the new volume's allocation, read on
    a second connection while it runs (as the clone's copy does), is shown as bytes of
    the image's allocation, and the whole figure once it is done."""
    size = image.allocation_bytes
    stop = threading.Event()
    args = (ctx, host, pool.name(), name, 0, size, size, stop)
    watcher = threading.Thread(target=watch_copy, args=args, name=f"create-copy:{name}",
                               daemon=True)  # fmt: skip
    watcher.start()
    try:
        vol = call_libvirt(host, action, pool.createXMLFrom, xml, image.vol, 0)
    finally:
        stop.set()
        watcher.join()
    ctx.progress(size, size)
    return vol


def overlay_xml(name: str, capacity_bytes: int, image: Image) -> str:
    """A qcow2 volume whose backing store is the image: the guest's writes go to it, the
    image is only read."""
    from xml.sax.saxutils import escape, quoteattr

    return (
        "<volume>"
        f"<name>{escape(name)}</name>"
        f"<capacity unit='bytes'>{capacity_bytes}</capacity>"
        "<allocation unit='bytes'>0</allocation>"
        "<target><format type='qcow2'/></target>"
        f"<backingStore><path>{escape(image.path)}</path>"
        f"<format type={quoteattr(image.format or 'raw')}/></backingStore>"
        "</volume>"
    )


def _undefine(dom: libvirt.virDomain) -> None:
    with contextlib.suppress(libvirt.libvirtError):
        if dom.isActive():
            dom.destroy()
    try:
        dom.undefineFlags(UNDEFINE_FLAGS)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise


def name_problem(name: str, facts: HostFacts | None) -> str | None:
    """Why ``name`` cannot be the new guest's (as typed), or None."""
    try:
        check_guest_name(name, facts.guest_names if facts else (), facts.host if facts else None)
    except GuestNameError as exc:
        return str(exc)
    return None
