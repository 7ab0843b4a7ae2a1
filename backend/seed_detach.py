"""Detach a guest's cloud-init seed once it has booted (cloud-init reads it on the first
boot only; left attached, a later boot with a new instance-id would run it again).

The seed is the disk whose source is the volume ``NAME-cidata.iso`` kvmtui made for the
guest (backend/seed.py's name; :func:`~kvmtui.backend.domain.seed.seed_disks` finds it).
Detaching removes it from the saved definition, and from the running guest too when its
bus lets it go live; otherwise it goes at the next restart. The volume is deleted only
when the admin asks (the screen asks first) and nothing else uses it. Read-only
connections are refused before libvirt is called.

Every call blocks (RPCs): run it in a worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

import libvirt

from kvmtui.backend import errors
from kvmtui.backend.domain import Domain
from kvmtui.backend.domain.notes import SEED_DETACH_NAMESPACE
from kvmtui.backend.domain.seed import seed_disks
from kvmtui.backend.host import Host
from kvmtui.backend.metadata import saved_note
from kvmtui.backend.seed import SEED_SUFFIX, delete_seed, seed_volume_name
from kvmtui.backend.storage import call_libvirt, volume_users

T = TypeVar("T")

_CONFIG = libvirt.VIR_DOMAIN_AFFECT_CONFIG
_LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE


@dataclass(frozen=True, slots=True)
class GuestSeed:
    """The seed volume a guest has attached, and as which disks."""

    pool: str | None
    volume: str
    targets: tuple[str, ...]
    #: The saved definition still carries the wizard's seed-detach mark: kvmtui has not
    #: seen the first boot end (or the guest has never started).
    first_boot_pending: bool = False

    @property
    def text(self) -> str:
        where = f"{self.pool}/{self.volume}" if self.pool else self.volume
        return f"{where} ({', '.join(self.targets)})"


def guest_seed(domain: Domain) -> GuestSeed | None:
    """The guest's cloud-init seed: the volume named after the guest, or (a guest renamed
    since) another ``*-cidata.iso`` volume among its disks."""
    others = sorted({
        d.source.volume for d in domain.disks
        if d.source is not None and d.source.volume and d.source.volume.endswith(SEED_SUFFIX)
    })  # fmt: skip
    names = [seed_volume_name(domain.name or ""), *others]
    for name in names:
        disks = seed_disks(domain, name)
        if disks:
            source = disks[0].source
            pool = source.pool if source is not None else None
            return GuestSeed(pool, name, tuple(d.target or "?" for d in disks))
    return None


#: The seed's pool or volume no longer exists.
_GONE = (libvirt.VIR_ERR_NO_STORAGE_POOL, libvirt.VIR_ERR_NO_STORAGE_VOL)


def read_guest_seed(host: Host, uuid: str) -> GuestSeed | None:
    """The seed in the guest's saved definition (or live one, if transient)."""
    action = "read the cloud-init seed of"
    dom = host.domain(uuid, action)
    try:
        persistent = bool(dom.isPersistent())
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE if persistent else 0)
        found = guest_seed(Domain.from_xml(xml))
        if found is None:
            return None
        marked = persistent and saved_note(dom, SEED_DETACH_NAMESPACE) is not None
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action) from exc
    return replace(found, first_boot_pending=marked)


def detach_seed(host: Host, uuid: str, *, delete_volume: bool = False) -> str:
    """Detach the guest's seed (saved definition, and live where the bus allows); delete
    its volume when asked and nothing else uses it. Returns the sentence to show."""
    cached = host.guest(uuid)
    guest = cached.name if cached else uuid
    action = "detach the cloud-init seed of"
    host.require_writable(action, guest=guest)
    dom = host.domain(uuid, action)

    def call(fn: Callable[..., T], *args: object) -> T:
        return call_libvirt(host, f"{action} guest '{guest}'", fn, *args)

    persistent = bool(call(dom.isPersistent))
    running = bool(call(dom.isActive))
    saved = Domain.from_xml(call(dom.XMLDesc, libvirt.VIR_DOMAIN_XML_INACTIVE))
    seed = guest_seed(saved) if persistent else None
    live = Domain.from_xml(call(dom.XMLDesc, 0)) if running else None
    live_seed = guest_seed(live) if live is not None else None
    if seed is None and live_seed is None:
        raise errors.invalid_state(
            host=host.label, action=action, guest=guest, why="it has no cloud-init seed attached"
        )
    volume = (seed or live_seed).volume  # type: ignore[union-attr]
    pool = (seed or live_seed).pool  # type: ignore[union-attr]
    parts: list[str] = []
    if seed is not None:
        for disk in seed_disks(saved, volume):
            call(dom.detachDeviceFlags, disk.xml(), _CONFIG)
        parts.append("removed from its definition")
    still_live = False
    if live is not None and live_seed is not None:
        for disk in seed_disks(live, volume):
            try:
                dom.detachDeviceFlags(disk.xml(), _LIVE)
            except libvirt.libvirtError as exc:
                why = exc.get_error_message() or str(exc)
                parts.append(f"still attached until the guest restarts (live detach: {why})")
                still_live = True
                break
        if not still_live:
            after = guest_seed(Domain.from_xml(call(dom.XMLDesc, 0)))
            if after is not None and after.volume == volume:
                parts.append("still attached until the guest releases it or restarts")
                still_live = True
            else:
                parts.append("detached from the running guest")
    elif running and seed is not None:
        parts.append("not attached to the running guest")
    sentence = f"The cloud-init seed {volume} of '{guest}': {'; '.join(parts)}"
    if not delete_volume:
        return sentence + "; its volume is kept."
    if pool is None:
        return sentence + "; its volume is kept (not a pool volume)."
    if still_live:
        return sentence + "; its volume is kept while the running guest has it open."
    users = volume_users(host.connection(action))
    # A guest may name the same volume by its pool or by its file's path.
    try:
        path = host.connection(action).storagePoolLookupByName(pool).storageVolLookupByName(
            volume
        ).path()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in _GONE:
            return sentence + f"; its volume {pool}/{volume} is gone already."
        raise errors.from_libvirt(exc, host=host.label, action=action) from exc
    found = users.get(f"{pool}/{volume}", ()) + users.get(path, ())
    others = list(dict.fromkeys(u.name for u in found if u.name != guest))
    if others:
        return sentence + f"; its volume is kept: {', '.join(others)} use it too."
    delete_seed(host, pool, volume)
    return sentence + f"; its volume {pool}/{volume} is deleted."
