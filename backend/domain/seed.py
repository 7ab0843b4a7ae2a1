"""The cloud-init seed's disk in a guest's definition.

The seed goes on a bus the guest's kernel has drivers for without an initramfs rebuild:
a read-only virtio disk (``vdX``), or a SCSI CD-ROM (``sdX``) on a virtio-scsi
controller. Never SATA/AHCI (IDE neither): common cloud kernels lack those drivers. The
source is ``<source pool=... volume=...>``, so the definition works on any host without
knowing where the pool keeps its files.
"""

from __future__ import annotations

import string
from xml.sax.saxutils import quoteattr

from kvmtui.backend.domain.devices import Device, Disk
from kvmtui.backend.domain.guest import Domain

SEED_BUSES = ("virtio", "scsi")
_PREFIX = {"virtio": "vd", "scsi": "sd"}


def free_target(domain: Domain, prefix: str) -> str:
    """The first ``vdX``/``sdX`` name no disk of the guest uses."""
    used = {disk.target for disk in domain.disks}
    letters = string.ascii_lowercase
    names = [prefix + a for a in letters] + [prefix + a + b for a in letters for b in letters]
    for name in names:
        if name not in used:
            return name
    raise ValueError(f"The guest has no free {prefix}X disk name left.")


def _scsi_controllers(domain: Domain) -> list[Device]:
    return [
        d for d in domain.devices
        if d.tag == "controller" and d.element.get("type") == "scsi"
    ]  # fmt: skip


def seed_disk_xml(pool: str, volume: str, target: str, bus: str) -> str:
    device = "disk" if bus == "virtio" else "cdrom"
    return (
        f"<disk type='volume' device='{device}'>"
        "<driver name='qemu' type='raw'/>"
        f"<source pool={quoteattr(pool)} volume={quoteattr(volume)}/>"
        f"<target dev='{target}' bus='{bus}'/>"
        "<readonly/>"
        "</disk>"
    )


def add_seed_disk(domain: Domain, pool: str, volume: str, bus: str = "virtio") -> Disk:
    """Attach the seed volume ``pool``/``volume`` read-only on ``bus`` (virtio or scsi);
    for scsi, a virtio-scsi controller is added unless the guest has one."""
    if bus not in SEED_BUSES:
        raise ValueError(
            f"The seed goes on a virtio disk or a virtio-scsi CD-ROM, not on '{bus}': cloud "
            "kernels often lack SATA and IDE drivers."
        )
    if bus == "scsi":
        controllers = _scsi_controllers(domain)
        other = [c for c in controllers if c.element.get("model") != "virtio-scsi"]
        if other:
            model = other[0].element.get("model") or "controller of libvirt's default model"
            raise ValueError(
                f"The guest's SCSI controller is a {model}, which cloud kernels may lack a "
                "driver for; put the seed on a virtio disk instead."
            )
        if not controllers:
            domain.add_device("<controller type='scsi' index='0' model='virtio-scsi'/>")
    disk = domain.add_device(seed_disk_xml(pool, volume, free_target(domain, _PREFIX[bus]), bus))
    assert isinstance(disk, Disk)
    return disk


def seed_disks(domain: Domain, volume: str) -> tuple[Disk, ...]:
    """The guest's disks whose source is the seed volume (to detach after first boot)."""
    return tuple(
        disk for disk in domain.disks
        if disk.source is not None and disk.source.volume == volume
    )  # fmt: skip
