"""What the configuration editor shows and changes of a guest, read from libvirt: its
running definition and its saved one side by side, as immutable values
(:class:`GuestConfig`), plus the pools and networks a new disk or NIC can use.

Built in a worker from the domain model; the parsed documents stay in the backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import libvirt

from kvmtui.backend import errors
from kvmtui.backend.domain import Disk, Domain, Interface
from kvmtui.backend.domain.layout import parse_for
from kvmtui.backend.host import Host

READ = "read the configuration of"

#: QEMU's disk cache modes (``<driver cache=...>``); "default" leaves it to the hypervisor.
CACHE_MODES = ("none", "writethrough", "writeback", "directsync", "unsafe", "default")


@dataclass(frozen=True, slots=True)
class DiskView:
    target: str
    device: str  # disk, cdrom, floppy, lun
    bus: str | None
    source: str | None  # live source when running, else saved
    saved_source: str | None
    format: str | None
    readonly: bool
    live: bool  # in the running guest
    saved: bool  # in the saved definition
    boot_order: int | None
    cache: str | None = None  # the saved definition's (None: the hypervisor's default)
    shareable: bool = False  # the saved definition's

    @property
    def options_text(self) -> str:
        """Read-only, shareable and cache mode in words: "read-only, cache none"."""
        words = ["read-only"] if self.readonly else []
        if self.shareable:
            words.append("shareable")
        words.append(f"cache {self.cache or 'default'}")
        return ", ".join(words)

    @property
    def cdrom(self) -> bool:
        return self.device == "cdrom"


@dataclass(frozen=True, slots=True)
class NicView:
    mac: str
    kind: str
    source: str | None
    model: str | None
    link_live: bool | None  # None: not in the running guest
    link_saved: bool | None  # None: not in the saved definition
    boot_order: int | None

    @property
    def live(self) -> bool:
        return self.link_live is not None

    @property
    def saved(self) -> bool:
        return self.link_saved is not None


@dataclass(frozen=True, slots=True)
class GuestConfig:
    """One guest's editable settings, running (``*_live``, None when it is shut off)
    and saved (None for a transient guest)."""

    host: str
    uuid: str
    name: str
    active: bool
    persistent: bool
    autostart: bool
    tcg: bool  # <domain type='qemu'>: QEMU without KVM
    title: str | None
    description: str | None
    vcpus_live: int | None
    vcpus_saved: int | None
    vcpus_max: int | None  # the saved maximum
    vcpus_max_live: int | None
    memory_live_kib: int | None  # the balloon's target while running
    memory_saved_kib: int | None  # current memory at the next boot
    memory_max_kib: int | None  # the saved maximum
    memory_max_live_kib: int | None
    cpu_mode: str | None
    cpu_model: str | None
    firmware: str | None
    boot_devices: tuple[str, ...]  # <os><boot dev=.../>
    boot_menu: bool | None
    disks: tuple[DiskView, ...]
    nics: tuple[NicView, ...]
    pools: tuple[str, ...] = ()  # running storage pools
    networks: tuple[str, ...] = ()  # libvirt networks
    memory_hotplug_kib: int | None = None  # <maxMemory>: the most DIMMs can bring it to
    memory_slots: int | None = None  # <maxMemory slots=...>
    numa_cells: int = 0
    dimms_live: int = 0  # DIMMs in the running guest (each takes a slot)
    controllers: tuple[str, ...] = ()  # the saved definition's controller types (scsi...)

    @property
    def memory_hotplug(self) -> str | None:
        """Why memory cannot be hot-plugged into this guest, or None when it can."""
        if not self.memory_hotplug_kib or not self.memory_slots:
            return "memory hot-plug is not configured (no <maxMemory slots=...>)"
        if self.numa_cells < 1:
            return "memory hot-plug needs a NUMA cell (<cpu><numa>), and the guest has none"
        return None

    def disk(self, target: str) -> DiskView | None:
        return next((d for d in self.disks if d.target == target), None)

    def nic(self, mac: str) -> NicView | None:
        return next((n for n in self.nics if n.mac.lower() == mac.lower()), None)

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(d.target for d in self.disks)

    @property
    def boot_text(self) -> str:
        """The boot order as the saved definition has it."""
        ordered = sorted(
            [(d.boot_order, d.target) for d in self.disks if d.boot_order]
            + [(n.boot_order, f"NIC {n.mac}") for n in self.nics if n.boot_order]
        )
        if ordered:
            return ", ".join(name for _, name in ordered)
        return ", ".join(self.boot_devices) or "(hypervisor default)"

    @property
    def cpu_text(self) -> str:
        if self.cpu_mode == "custom" and self.cpu_model:
            return self.cpu_model
        return self.cpu_mode or "(hypervisor default)"


V = TypeVar("V")


def _sides(
    live: Domain | None, saved: Domain | None, of: Callable[[Domain], dict[str, V]]
) -> Iterator[tuple[str, V, V | None, V | None]]:
    """Each device by its key, running ones first: (key, the one shown (running if
    there), the running one, the saved one)."""
    live_ones = of(live) if live is not None else {}
    saved_ones = of(saved) if saved is not None else {}
    for key in dict.fromkeys([*live_ones, *saved_ones]):
        running, kept = live_ones.get(key), saved_ones.get(key)
        shown = running if running is not None else kept
        assert shown is not None
        yield key, shown, running, kept


def _disk_views(live: Domain | None, saved: Domain | None) -> tuple[DiskView, ...]:
    def by_target(domain: Domain) -> dict[str, Disk]:
        return {d.target: d for d in domain.disks if d.target}

    return tuple(
        DiskView(
            target=target,
            device=disk.device or "disk",
            bus=disk.bus,
            source=disk.source_text,
            saved_source=kept.source_text if kept is not None else None,
            format=disk.format,
            readonly=(kept or disk).readonly,
            live=running is not None,
            saved=kept is not None,
            boot_order=(kept or disk).boot_order,
            cache=(kept or disk).cache,
            shareable=(kept or disk).shareable,
        )
        for target, disk, running, kept in _sides(live, saved, by_target)
    )


def _nic_views(live: Domain | None, saved: Domain | None) -> tuple[NicView, ...]:
    def by_mac(domain: Domain) -> dict[str, Interface]:
        return {n.mac.lower(): n for n in domain.interfaces if n.mac}

    return tuple(
        NicView(
            mac=mac,
            kind=nic.type or "?",
            source=nic.source,
            model=nic.model,
            link_live=running.link_up if running is not None else None,
            link_saved=kept.link_up if kept is not None else None,
            boot_order=(kept or nic).boot_order,
        )
        for mac, nic, running, kept in _sides(live, saved, by_mac)
    )


def config_of(
    host: str,
    uuid: str,
    live: Domain | None,
    saved: Domain | None,
    *,
    autostart: bool,
    pools: tuple[str, ...] = (),
    networks: tuple[str, ...] = (),
) -> GuestConfig:
    """The editor's view of a guest from its running and saved definitions."""
    main = saved if saved is not None else live
    assert main is not None
    return GuestConfig(
        host=host,
        uuid=uuid,
        name=main.name or uuid,
        active=live is not None,
        persistent=saved is not None,
        autostart=autostart,
        tcg=main.hypervisor == "qemu",
        title=main.title,
        description=main.description,
        vcpus_live=live.vcpus if live is not None else None,
        vcpus_saved=saved.vcpus if saved is not None else None,
        vcpus_max=main.vcpus_max,
        vcpus_max_live=live.vcpus_max if live is not None else None,
        memory_live_kib=live.current_memory_kib if live is not None else None,
        memory_saved_kib=saved.current_memory_kib if saved is not None else None,
        memory_max_kib=main.memory_kib,
        memory_max_live_kib=live.memory_kib if live is not None else None,
        cpu_mode=main.cpu_mode,
        cpu_model=main.cpu_model,
        firmware=main.firmware or ("efi" if main.loader_type == "pflash" else None),
        boot_devices=main.boot_devices,
        boot_menu=main.boot_menu,
        disks=_disk_views(live, saved),
        nics=_nic_views(live, saved),
        pools=pools,
        networks=networks,
        memory_hotplug_kib=main.max_memory_kib,
        memory_slots=main.max_memory_slots,
        numa_cells=main.numa_cells,
        dimms_live=len(live.dimms) if live is not None else 0,
        controllers=tuple(
            d.element.get("type") or "" for d in main.devices if d.element.tag == "controller"
        ),
    )


def read_config(host: Host, uuid: str) -> GuestConfig:
    """The guest's configuration as libvirt has it now (blocking: run it in a worker).

    Raises :class:`backend.errors.KvmtuiError`.
    """
    dom = host.domain(uuid, READ)
    cached = host.guest(uuid)
    name = cached.name if cached else uuid
    conn = host.connection(READ)
    try:
        name = dom.name()
        active = bool(dom.isActive())
        persistent = bool(dom.isPersistent())
        live_xml = dom.XMLDesc(0) if active else None
        saved_xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) if persistent else None
        autostart = bool(dom.autostart()) if persistent else False
        pools = tuple(sorted(p.name() for p in conn.listAllStoragePools(0) if p.isActive()))
        networks = tuple(sorted(n.name() for n in conn.listAllNetworks(0)))
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=READ, guest=name) from exc

    def parse(xml: str | None) -> Domain | None:
        return parse_for(xml, host=host.label, guest=name, action=READ) if xml else None

    return config_of(
        host.label,
        uuid,
        parse(live_xml),
        parse(saved_xml),
        autostart=autostart,
        pools=pools,
        networks=networks,
    )
