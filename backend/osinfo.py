"""Operating systems from the osinfo-db files (what virt-install itself uses), read directly.

The Debian package ``osinfo-db`` puts one XML file per OS under ``/usr/share/osinfo/os``.
Each ``<os>`` names its resources (minimum, recommended, maximum: RAM, vCPUs, disk; per
architecture or for all), the devices it has drivers for (virtio by PCI id, the q35
chipset), the firmware it needs, and what it derives from or clones; what an entry does
not say it inherits from those, as libosinfo does. No GObject introspection.

Reading all ~800 files takes a noticeable fraction of a second, so nothing is read
until an OS list is first asked for (in a worker), and then once per process: the
parsed entries are kept (:func:`load`). "Generic Linux" and "unknown" are always
offered, even without the package.
"""

from __future__ import annotations

import os
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

#: Where Debian's osinfo-db puts the database; $OSINFO_SYSTEM_DIR as in libosinfo.
DEFAULT_DIR = Path("/usr/share/osinfo")
ARCH = "x86_64"

# PCI ids (virtio legacy and 1.0) of the devices kvmtui's guests get.
VIRTIO_NET = frozenset({"http://pcisig.com/pci/1af4/1000", "http://pcisig.com/pci/1af4/1041"})
VIRTIO_BLOCK = frozenset({"http://pcisig.com/pci/1af4/1001", "http://pcisig.com/pci/1af4/1042"})
VIRTIO_SCSI = frozenset({"http://pcisig.com/pci/1af4/1004", "http://pcisig.com/pci/1af4/1048"})
Q35 = "http://qemu.org/chipset/x86/q35"

#: Families whose installers have no virtio drivers of their own.
NO_INBOX_VIRTIO = frozenset({"winnt", "win9x", "win16", "msdos", "netware"})

GENERIC_LINUX_ID = "kvmtui:generic-linux"
UNKNOWN_ID = "http://libosinfo.org/unknown"

_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass(frozen=True, slots=True)
class Resources:
    """One level of an OS's resources; None where the database does not say."""

    ram_bytes: int | None = None
    vcpus: int | None = None
    storage_bytes: int | None = None

    def at_least(self, other: Resources) -> Resources:
        """Each figure no lower than ``other``'s (a recommendation below the minimum)."""

        def most(mine: int | None, theirs: int | None) -> int | None:
            return (
                max(mine, theirs)
                if mine is not None and theirs is not None
                else (mine if mine is not None else theirs)
            )

        return Resources(
            most(self.ram_bytes, other.ram_bytes),
            most(self.vcpus, other.vcpus),
            most(self.storage_bytes, other.storage_bytes),
        )

    def over(self, parent: Resources) -> Resources:
        """These figures, the parent's where these have none."""
        return Resources(
            self.ram_bytes if self.ram_bytes is not None else parent.ram_bytes,
            self.vcpus if self.vcpus is not None else parent.vcpus,
            self.storage_bytes if self.storage_bytes is not None else parent.storage_bytes,
        )


@dataclass(frozen=True, slots=True)
class OsInfo:
    """One operating system, with what it inherits already resolved."""

    id: str
    short_id: str  # debian12, win11, linux2022...
    name: str  # "Debian 12"
    family: str | None = None  # linux, winnt, freebsd...
    vendor: str | None = None
    release_date: str | None = None
    eol_date: str | None = None
    minimum: Resources = Resources()
    recommended: Resources = Resources()
    virtio_net: bool | None = None  # None: not known (offer it; the admin decides)
    virtio_block: bool | None = None
    virtio_scsi: bool | None = None
    q35: bool | None = None
    uefi: bool = False  # EFI firmware listed for x86_64
    needs_uefi: bool = False  # BIOS listed as not supported
    short_ids: tuple[str, ...] = ()

    @property
    def machine(self) -> str:
        """The machine type virt-install picks: q35 when the OS has drivers for it (or is
        not known to lack them), else i440fx ``pc``."""
        return "pc" if self.q35 is False else "q35"

    @property
    def virtio(self) -> bool:
        """Whether disks and NICs are virtio: said by the database, or not said for an OS
        outside the families without in-box virtio drivers (Windows, DOS)."""
        said = (self.virtio_block, self.virtio_net)
        if False in said:
            return False
        return True in said or self.family not in NO_INBOX_VIRTIO

    def matches(self, words: Iterable[str]) -> bool:
        text = " ".join((self.name, *self.short_ids, self.vendor or "")).lower()
        return all(word in text for word in words)


GENERIC_LINUX = OsInfo(
    id=GENERIC_LINUX_ID,
    short_id="linux",
    name="Generic Linux",
    family="linux",
    minimum=Resources(256 * 1024**2, 1, 1024**3),
    recommended=Resources(1024**3, 1, 10 * 1024**3),
    virtio_net=True,
    virtio_block=True,
    virtio_scsi=True,
    q35=True,
    uefi=True,
    short_ids=("linux", "generic"),
)
UNKNOWN = OsInfo(
    id=UNKNOWN_ID,
    short_id="unknown",
    name="Unknown",
    minimum=Resources(256 * 1024**2, 1, 1024**3),
    recommended=Resources(1024**3, 1, 10 * 1024**3),
    short_ids=("unknown",),
)


@dataclass(slots=True)
class _Raw:
    """One ``<os>`` element as written, before inheritance."""

    id: str
    short_ids: list[str]
    name: str
    family: str | None
    vendor: str | None
    release_date: str | None
    eol_date: str | None
    parents: list[str]  # derives-from, then clones
    minimum: Resources | None
    recommended: Resources | None
    inherit_resources: bool
    devices: dict[str, bool] = field(default_factory=dict)  # id -> supported
    firmware: dict[str, bool] = field(default_factory=dict)  # bios/efi -> supported


def _int(element: ET.Element, tag: str) -> int | None:
    text = element.findtext(tag)
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _resources(os_element: ET.Element, level: str) -> tuple[Resources | None, bool]:
    """The x86_64 figures of one level, else those for all architectures; and whether the
    entry asks to inherit them."""
    found: Resources | None = None
    inherit = False
    for arch in (ARCH, "all"):
        for resources in os_element.iterfind(f"resources[@arch='{arch}']"):
            inherit = inherit or resources.get("inherit") == "true"
            level_element = resources.find(level)
            if level_element is None:
                continue
            mine = Resources(
                _int(level_element, "ram"),
                _int(level_element, "n-cpus"),
                _int(level_element, "storage"),
            )
            found = mine if found is None else found.over(mine)
    return found, inherit


def _text(element: ET.Element, tag: str) -> str | None:
    for child in element.iterfind(tag):
        if child.get(_LANG) is None:
            return (child.text or "").strip() or None
    return None


def _read_file(path: Path) -> Iterable[_Raw]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return ()
    raws = []
    for os_element in root.iterfind("os"):
        os_id = os_element.get("id")
        name = _text(os_element, "name")
        if not os_id or not name:
            continue
        minimum, inherit_min = _resources(os_element, "minimum")
        recommended, inherit_rec = _resources(os_element, "recommended")
        raw = _Raw(
            id=os_id,
            short_ids=[(s.text or "").strip() for s in os_element.iterfind("short-id")],
            name=name,
            family=os_element.findtext("family"),
            vendor=_text(os_element, "vendor"),
            release_date=os_element.findtext("release-date"),
            eol_date=os_element.findtext("eol-date"),
            parents=[
                p.get("id", "")
                for tag in ("derives-from", "clones")
                for p in os_element.iterfind(tag)
            ],
            minimum=minimum,
            recommended=recommended,
            inherit_resources=inherit_min or inherit_rec,
        )
        for device in os_element.iterfind("devices/device"):
            raw.devices[device.get("id", "")] = device.get("supported", "true") != "false"
        for firmware in os_element.iterfind(f"firmware[@arch='{ARCH}']"):
            raw.firmware[firmware.get("type", "")] = firmware.get("supported", "true") != "false"
        raws.append(raw)
    return raws


class _Resolver:
    """Inheritance along derives-from and clones, as libosinfo resolves it."""

    def __init__(self, raws: dict[str, _Raw]) -> None:
        self.raws = raws
        self.devices_cache: dict[str, dict[str, bool]] = {}
        self.resources_cache: dict[str, tuple[Resources, Resources]] = {}

    def devices(self, os_id: str, seen: frozenset[str] = frozenset()) -> dict[str, bool]:
        if os_id in self.devices_cache:
            return self.devices_cache[os_id]
        raw = self.raws.get(os_id)
        if raw is None or os_id in seen:
            return {}
        merged: dict[str, bool] = {}
        for parent in reversed(raw.parents):
            merged.update(self.devices(parent, seen | {os_id}))
        merged.update(raw.devices)
        self.devices_cache[os_id] = merged
        return merged

    def resources(
        self, os_id: str, seen: frozenset[str] = frozenset()
    ) -> tuple[Resources, Resources]:
        if os_id in self.resources_cache:
            return self.resources_cache[os_id]
        raw = self.raws.get(os_id)
        if raw is None or os_id in seen:
            return Resources(), Resources()
        minimum = raw.minimum or Resources()
        recommended = raw.recommended or Resources()
        if (raw.minimum is None or raw.recommended is None or raw.inherit_resources) and (
            raw.parents
        ):
            parent_min, parent_rec = self.resources(raw.parents[0], seen | {os_id})
            minimum, recommended = minimum.over(parent_min), recommended.over(parent_rec)
        self.resources_cache[os_id] = (minimum, recommended)
        return minimum, recommended

    def info(self, raw: _Raw) -> OsInfo:
        devices = self.devices(raw.id)
        minimum, recommended = self.resources(raw.id)

        def supports(ids: frozenset[str]) -> bool | None:
            said = [devices[i] for i in ids if i in devices]
            return any(said) if said else None

        return OsInfo(
            id=raw.id,
            short_id=raw.short_ids[0] if raw.short_ids else raw.id.rsplit("/", 1)[-1],
            name=raw.name,
            family=raw.family,
            vendor=raw.vendor,
            release_date=raw.release_date,
            eol_date=raw.eol_date,
            minimum=minimum,
            recommended=recommended.at_least(minimum),
            virtio_net=supports(VIRTIO_NET),
            virtio_block=supports(VIRTIO_BLOCK),
            virtio_scsi=supports(VIRTIO_SCSI),
            q35=devices.get(Q35),
            uefi=raw.firmware.get("efi", False),
            needs_uefi=raw.firmware.get("bios") is False,
            short_ids=tuple(raw.short_ids),
        )


@dataclass(frozen=True, slots=True)
class OsDatabase:
    """The OSes of one osinfo-db, newest release first after the two generic entries."""

    entries: tuple[OsInfo, ...]
    source: str  # the folder read, or a sentence saying why none was

    def get(self, os_id: str) -> OsInfo | None:
        return next(
            (e for e in self.entries if os_id in (e.id, e.short_id) or os_id in e.short_ids),
            None,
        )

    def search(self, text: str, limit: int | None = None) -> tuple[OsInfo, ...]:
        """The entries whose name, short ids or vendor hold every word typed; the generic
        two first and always."""
        words = text.lower().split()
        found = [e for e in self.entries if e.id in (GENERIC_LINUX_ID, UNKNOWN_ID)]
        found += [e for e in self.entries if e not in found and e.matches(words)]
        return tuple(found[:limit] if limit is not None else found)


def database_dir() -> Path:
    return Path(os.environ.get("OSINFO_SYSTEM_DIR") or DEFAULT_DIR)


def read_database(directory: Path | None = None) -> OsDatabase:
    """Read every OS file under ``directory``/os (default: the system's osinfo-db)."""
    folder = directory or database_dir()
    files = sorted((folder / "os").glob("*/*.xml"))
    raws: dict[str, _Raw] = {}
    for path in files:
        for raw in _read_file(path):
            raws[raw.id] = raw
    resolver = _Resolver(raws)
    infos = [resolver.info(raw) for raw in raws.values() if raw.id != UNKNOWN_ID]
    infos.sort(key=lambda e: (e.release_date or "", e.name), reverse=True)
    unknown = resolver.info(raws[UNKNOWN_ID]) if UNKNOWN_ID in raws else UNKNOWN
    unknown = replace(unknown, minimum=UNKNOWN.minimum, recommended=UNKNOWN.recommended)
    if files:
        source = str(folder)
    else:
        source = f"no osinfo-db under {folder}: install the package osinfo-db for the OS list"
    return OsDatabase((GENERIC_LINUX, unknown, *infos), source)


_loaded: OsDatabase | None = None
_lock = threading.Lock()


def load() -> OsDatabase:
    """The system's database, read on first use and kept (blocking: call from a worker)."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = read_database()
        return _loaded
