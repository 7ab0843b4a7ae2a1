"""What waits for a restart: a running guest's live definition against its saved one,
compared through the model and said in words ("vCPUs 2 now, 4 after restart").

Only what an admin changes and what takes effect at the next boot is compared. What
always differs between the two is left out, because it is filled in while the guest
runs: aliases, addresses, a NIC's host device (vnetN), auto-assigned ports and pty
paths, seclabels, the domain's ``id``, backing chains, channel states, the CPU model a
``host-model`` CPU was expanded to. Title, description and metadata change live too
(libvirt's metadata API), so they never wait for a restart and are not listed.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TypeVar

from kvmtui.backend.domain.devices import Device, Disk, Interface
from kvmtui.backend.domain.guest import Domain

T = TypeVar("T")

#: Devices compared one by one (disks by target, NICs by MAC); others are counted by kind.
_OWN_CLASSES = (Disk, Interface)
#: CPU modes libvirt turns into ``custom`` with a model in the live definition.
_EXPANDED_CPU_MODES = ("host-model",)


def size_text(kib: int) -> str:
    """KiB as an admin reads it: 512 MiB, 1 GiB, 1.5 GiB, 300 KiB."""
    for unit, size in (("TiB", 1024**3), ("GiB", 1024**2), ("MiB", 1024)):
        if kib >= size:
            value = kib / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{kib} KiB"


def _text(value: object, empty: str = "none") -> str:
    if value is None or value == "" or value == ():
        return empty
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _changed(
    what: str, now: T | None, later: T | None, show: Callable[[T | None], str] = _text
) -> Iterator[str]:
    if now != later:
        yield f"{what} {show(now)} now, {show(later)} after restart"


def _memory(kib: int | None) -> str:
    return size_text(kib) if kib is not None else "unknown"


def _cpu(domain: Domain) -> tuple[str | None, str | None]:
    """CPU mode and, for a custom CPU, its model."""
    mode = domain.cpu_mode
    return mode, domain.cpu_model if mode in (None, "custom") else None


def _boot_text(domain: Domain) -> tuple[str, ...]:
    """Boot order: ``<os><boot dev>`` kinds, or the devices with ``<boot order>``."""
    if domain.boot_devices:
        return domain.boot_devices
    ordered = sorted(
        (device.boot_order, _device_name(device))
        for device in domain.devices
        if device.boot_order is not None
    )
    return tuple(name for _, name in ordered)


def _device_name(device: Device) -> str:
    if isinstance(device, Disk):
        return device.target or "a disk"
    if isinstance(device, Interface):
        return f"NIC {device.mac}" if device.mac else "a NIC"
    return device.tag


def _disk_word(disk: Disk) -> str:
    kind = {"cdrom": "CD-ROM", "floppy": "floppy"}.get(disk.device or "disk", "disk")
    return f"{kind} {disk.target}"


def _disk_changes(live: Domain, saved: Domain) -> Iterator[str]:
    now = {disk.target: disk for disk in live.disks if disk.target}
    later = {disk.target: disk for disk in saved.disks if disk.target}
    for target, disk in now.items():
        if target not in later:
            yield f"{_disk_word(disk)} removed after restart"
    for target, disk in later.items():
        if target not in now:
            yield f"{_disk_word(disk)} added after restart"
    for target in now.keys() & later.keys():
        before, after = now[target], later[target]
        name = _disk_word(after)
        cdrom = after.device == "cdrom"
        yield from _changed(
            f"{name}: medium" if cdrom else f"{name}: source",
            before.source_text,
            after.source_text,
            functools.partial(_text, empty="empty" if cdrom else "none"),
        )
        yield from _changed(f"{name}: format", before.format, after.format)
        yield from _changed(f"{name}: bus", before.bus, after.bus)
        yield from _changed(f"{name}: cache", before.cache, after.cache,
                            lambda v: _text(v, "default"))
        yield from _changed(f"{name}: read-only", before.readonly, after.readonly)
        yield from _changed(f"{name}: shareable", before.shareable, after.shareable)
        if before.iotune != after.iotune:
            yield f"{name}: I/O limits change after restart"


def _nic_changes(live: Domain, saved: Domain) -> Iterator[str]:
    now = {(nic.mac or "").lower(): nic for nic in live.interfaces}
    later = {(nic.mac or "").lower(): nic for nic in saved.interfaces}
    for mac in now.keys() - later.keys():
        yield f"NIC {mac or '(no MAC)'} removed after restart"
    for mac in later.keys() - now.keys():
        yield f"NIC {mac or '(no MAC)'} added after restart"
    for mac in sorted(now.keys() & later.keys()):
        before, after = now[mac], later[mac]
        name = f"NIC {mac}"
        yield from _changed(f"{name}: connected to", before.source, after.source)
        yield from _changed(f"{name}: model", before.model, after.model,
                            lambda v: _text(v, "default"))
        yield from _changed(f"{name}: link", "up" if before.link_up else "down",
                            "up" if after.link_up else "down")
        for direction in ("inbound", "outbound"):
            if before.bandwidth(direction) != after.bandwidth(direction):
                yield f"{name}: {direction} bandwidth changes after restart"


def _other_devices(domain: Domain) -> Counter[str]:
    """Devices other than disks and NICs, counted by element and type or model."""
    kinds: Counter[str] = Counter()
    for device in domain.devices:
        if isinstance(device, _OWN_CLASSES):
            continue
        element = device.element
        kind = element.get("type") or element.get("model")
        kinds[f"{device.tag} ({kind})" if kind else device.tag] += 1
    return kinds


def _device_count_changes(live: Domain, saved: Domain) -> Iterator[str]:
    now, later = _other_devices(live), _other_devices(saved)
    for kind in sorted(now.keys() | later.keys()):
        difference = later[kind] - now[kind]
        if difference:
            count = "a" if abs(difference) == 1 else str(abs(difference))
            plural = "s" if abs(difference) > 1 else ""
            done = "added" if difference > 0 else "removed"
            yield f"{count} {kind} device{plural} {done} after restart"


def pending_changes(live: Domain, saved: Domain) -> tuple[str, ...]:
    """What differs between what runs (``live``) and what the next boot gets (``saved``),
    one phrase each, in the order the details screen lists them; () when nothing does."""
    changes: list[str] = []
    changes += _changed("vCPUs", live.vcpus, saved.vcpus)
    changes += _changed("maximum vCPUs", live.vcpus_max, saved.vcpus_max)
    changes += _changed("memory", live.memory_kib, saved.memory_kib, _memory)
    changes += _changed("current memory", live.current_memory_kib, saved.current_memory_kib,
                        _memory)
    live_mode, live_model = _cpu(live)
    saved_mode, saved_model = _cpu(saved)
    if not (saved_mode in _EXPANDED_CPU_MODES and live_mode == "custom"):
        changes += _changed("CPU mode", live_mode, saved_mode, lambda v: _text(v, "default"))
        if live_mode == saved_mode:
            changes += _changed("CPU model", live_model, saved_model,
                                lambda v: _text(v, "default"))
    changes += _changed("machine", live.machine, saved.machine)
    changes += _changed("architecture", live.arch, saved.arch)
    if live.firmware and saved.firmware:
        changes += _changed("firmware", live.firmware, saved.firmware)
    changes += _changed("boot order", _boot_text(live), _boot_text(saved))
    changes += _changed("boot menu", bool(live.boot_menu), bool(saved.boot_menu))
    changes += _disk_changes(live, saved)
    changes += _nic_changes(live, saved)
    live_balloon, saved_balloon = live.memballoon, saved.memballoon
    if live_balloon is not None and saved_balloon is not None:
        changes += _changed("memory statistics period", live_balloon.stats_period,
                            saved_balloon.stats_period, lambda v: f"{v or 0} s")
    changes += _device_count_changes(live, saved)
    return tuple(changes)
