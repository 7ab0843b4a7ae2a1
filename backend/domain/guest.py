"""A guest's definition: :class:`Domain`, the ``<domain>`` element and what is under it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar, overload

from lxml import etree

from kvmtui.backend.domain.devices import (
    DEVICE_CLASSES,
    Channel,
    Console,
    Device,
    Disk,
    Graphics,
    Interface,
    MemBalloon,
    Serial,
    Video,
    device_of,
)
from kvmtui.backend.domain.xmlnode import (
    INT,
    STR,
    YESNO,
    Element,
    Flag,
    Prop,
    XmlNode,
    find,
    indented,
    insert_child,
    remove_element,
)

D = TypeVar("D", bound=Device)

#: Bytes in one of each unit libvirt accepts (``<memory unit='...'>``).
_UNIT_BYTES = {
    "b": 1, "bytes": 1, "kb": 1000, "k": 1024, "kib": 1024, "mb": 1000**2, "m": 1024**2,
    "mib": 1024**2, "gb": 1000**3, "g": 1024**3, "gib": 1024**3, "tb": 1000**4,
    "t": 1024**4, "tib": 1024**4, "pb": 1000**5, "p": 1024**5, "pib": 1024**5,
    "eb": 1000**6, "e": 1024**6, "eib": 1024**6,
}  # fmt: skip

#: The devices ``<os><boot dev='...'/>`` can name.
BOOT_DEVICES = ("hd", "cdrom", "network", "fd")

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class DomainXmlError(ValueError):
    """The text is not a domain XML the model can read; ``line`` is where the parser
    stopped (1-based), when it says."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class Memory(Prop[int]):
    """An amount of memory in KiB; read in any unit, written in KiB (as libvirt does)."""

    def __init__(self, path: str) -> None:
        super().__init__(path, INT)

    def read(self, element: Element) -> int | None:
        found = find(element, self.steps)
        number = INT.read(found.text or "") if found is not None else None
        if found is None or number is None:
            return None
        unit_bytes = _UNIT_BYTES.get(found.get("unit", "KiB").lower())
        return number * unit_bytes // 1024 if unit_bytes is not None else None

    def __set__(self, node: XmlNode, value: int | None) -> None:
        super().__set__(node, value)
        if value is not None:
            found = find(node.element, self.steps)
            if found is not None and found.get("unit") not in (None, "KiB"):
                found.set("unit", "KiB")


class Domain(XmlNode):
    """A guest's definition, parsed; reads give typed values, edits change the parsed
    document in place, and :meth:`to_xml` gives it back whole."""

    __slots__ = ()

    hypervisor = Prop("@type", STR)  # kvm, qemu, test...
    name = Prop("name", STR)
    uuid = Prop("uuid", STR)
    title = Prop("title", STR)
    description = Prop("description", STR)
    memory_kib = Memory("memory")  # the maximum at boot
    current_memory_kib = Memory("currentMemory")  # what the balloon leaves it at boot
    max_memory_kib = Memory("maxMemory")  # memory hot-plug: the most DIMMs can bring it to
    max_memory_slots = Prop("maxMemory/@slots", INT)
    vcpus_max = Prop("vcpu", INT)
    vcpus_current_attr = Prop("vcpu/@current", INT)  # absent: as many as vcpus_max
    cpu_mode = Prop("cpu/@mode", STR)  # host-passthrough, host-model, custom, maximum
    cpu_model = Prop("cpu/model", STR)  # a custom CPU's named model (Skylake-Client...)
    os_type = Prop("os/type", STR)  # hvm, xen, linux, exe
    arch = Prop("os/type/@arch", STR)
    machine = Prop("os/type/@machine", STR)
    firmware = Prop("os/@firmware", STR)  # bios, efi (automatic selection)
    loader = Prop("os/loader", STR)
    loader_type = Prop("os/loader/@type", STR)  # rom, pflash
    loader_readonly = Prop("os/loader/@readonly", YESNO)
    loader_secure = Prop("os/loader/@secure", YESNO)
    nvram = Prop("os/nvram", STR)
    nvram_template = Prop("os/nvram/@template", STR)
    boot_menu = Prop("os/bootmenu/@enable", YESNO)
    kernel = Prop("os/kernel", STR)  # direct kernel boot: a path on the host
    initrd = Prop("os/initrd", STR)
    cmdline = Prop("os/cmdline", STR)
    clock_offset = Prop("clock/@offset", STR)  # utc, localtime...
    acpi = Flag("features/acpi")
    apic = Flag("features/apic")
    boot_menu_timeout_ms = Prop("os/bootmenu/@timeout", INT)

    @classmethod
    def from_xml(cls, xml: str | bytes) -> Domain:
        """Parse a domain XML. Raises :class:`DomainXmlError` (a ValueError)."""
        data = xml.encode() if isinstance(xml, str) else xml  # lxml refuses str with a
        try:  # declared encoding
            root = etree.fromstring(data, _PARSER)
        except etree.XMLSyntaxError as exc:
            raise DomainXmlError(f"not a domain XML: {exc}", exc.lineno or None) from exc
        if root.tag != "domain":
            raise DomainXmlError(f"not a domain XML: <{root.tag}>")
        return cls(root)

    def to_xml(self) -> str:
        """The whole document as text, with what the model does not know as it was."""
        return etree.tostring(self.element.getroottree(), encoding="unicode") + "\n"

    @property
    def cpu_xml(self) -> str | None:
        """The ``<cpu>`` element as text (what libvirt's CPU comparisons take), or None."""
        cpu = self.element.find("cpu")
        return etree.tostring(cpu, encoding="unicode") if cpu is not None else None

    # -- reading --------------------------------------------------------------------------

    def line_of(
        self, tag: str | None = None, attribute: str | None = None, value: str | None = None
    ) -> int | None:
        """The source line (1-based) of the first element that has the ``tag``, carries
        the ``attribute`` and holds the ``value`` (as its text or an attribute's), as far
        as each is given; None when none does. Points an error message at its place."""
        for element in self.element.iter(tag if tag is not None else etree.Element):
            if attribute is not None and attribute not in element.attrib:
                continue
            if (
                value is not None
                and value != (element.text or "").strip()
                and (value not in element.attrib.values())
            ):
                continue
            line = element.sourceline
            return line if isinstance(line, int) else None
        return None

    @property
    def vcpus(self) -> int | None:
        """vCPUs at boot: ``current`` when set, else the maximum."""
        return self.vcpus_current_attr or self.vcpus_max

    @property
    def boot_devices(self) -> tuple[str, ...]:
        """``<os><boot dev=.../>`` in order (hd, cdrom, network, fd)."""
        return tuple(boot.get("dev", "") for boot in self.element.iterfind("os/boot"))

    @property
    def devices(self) -> tuple[Device, ...]:
        """Every device, in document order; known kinds as their own class."""
        return tuple(
            device_of(element)
            for element in self.element.iterfind("devices/*")
            if isinstance(element.tag, str)
        )

    def devices_of(self, cls: type[D]) -> tuple[D, ...]:
        """The devices of one known kind (``Disk``...), in document order."""
        tag = next(tag for tag, known in DEVICE_CLASSES.items() if known is cls)
        return self.children(f"devices/{tag}", cls)

    @property
    def numa_cells(self) -> int:
        """How many NUMA cells ``<cpu><numa>`` defines (memory hot-plug needs one)."""
        return len(self.element.findall("cpu/numa/cell"))

    @property
    def dimms(self) -> tuple[Device, ...]:
        """The hot-pluggable memory devices (``<memory model='dimm'>``)."""
        return tuple(d for d in self.devices if d.element.tag == "memory")

    @property
    def disks(self) -> tuple[Disk, ...]:
        return self.devices_of(Disk)

    @property
    def interfaces(self) -> tuple[Interface, ...]:
        return self.devices_of(Interface)

    @property
    def serials(self) -> tuple[Serial, ...]:
        return self.devices_of(Serial)

    @property
    def consoles(self) -> tuple[Console, ...]:
        return self.devices_of(Console)

    @property
    def channels(self) -> tuple[Channel, ...]:
        return self.devices_of(Channel)

    @property
    def graphics(self) -> tuple[Graphics, ...]:
        return self.devices_of(Graphics)

    @property
    def videos(self) -> tuple[Video, ...]:
        return self.devices_of(Video)

    @property
    def has_display(self) -> bool:
        """A screen to capture: a ``<graphics>`` element (libvirt then adds a default
        video device) or a ``<video>`` whose model is not ``none``. QEMU's screenshots
        need only the video device (libvirt runs it with ``-display none``)."""
        return bool(self.graphics) or any(v.model != "none" for v in self.videos)

    @property
    def memballoon(self) -> MemBalloon | None:
        balloons = self.devices_of(MemBalloon)
        return balloons[0] if balloons else None

    @property
    def agent_channel(self) -> Channel | None:
        return next((channel for channel in self.channels if channel.is_agent), None)

    def disk(self, target: str) -> Disk | None:
        return next((disk for disk in self.disks if disk.target == target), None)

    def interface(self, mac: str) -> Interface | None:
        wanted = mac.lower()
        return next((nic for nic in self.interfaces if (nic.mac or "").lower() == wanted), None)

    # -- edits (each raises ValueError with a sentence and changes nothing then) ----------

    def set_memory(self, maximum_kib: int, current_kib: int | None = None) -> None:
        """Memory at boot and what the balloon leaves the guest (default: all of it)."""
        current = maximum_kib if current_kib is None else current_kib
        if maximum_kib <= 0 or current <= 0:
            raise ValueError("memory must be more than 0 KiB")
        if current > maximum_kib:
            raise ValueError(
                f"current memory ({current} KiB) must not exceed the maximum ({maximum_kib} KiB)"
            )
        self.memory_kib = maximum_kib
        self.current_memory_kib = current

    def set_vcpus(self, current: int, maximum: int | None = None) -> None:
        """vCPUs at boot, and the most the guest can have (default: as many)."""
        most = current if maximum is None else maximum
        if current < 1:
            raise ValueError("a guest needs at least 1 vCPU")
        if current > most:
            raise ValueError(f"{current} vCPUs is more than the maximum of {most}")
        self.vcpus_max = most
        self.vcpus_current_attr = current if current != most else None

    def set_title(self, title: str | None) -> None:
        """One line shown beside the name; None or "" removes it."""
        if title and "\n" in title:
            raise ValueError("a title is one line")
        self.title = title or None

    def set_description(self, description: str | None) -> None:
        self.description = description or None

    def set_balloon_period(self, seconds: int) -> None:
        """How often the balloon driver reports memory in use (0: never)."""
        balloon = self.memballoon
        if balloon is None or not balloon.present:
            raise ValueError("the guest has no balloon device")
        if seconds < 0:
            raise ValueError("a period must not be negative")
        balloon.stats_period = seconds

    def set_boot_devices(self, devices: Sequence[str]) -> None:
        """Boot from these kinds of device in this order (``<os><boot dev=.../>``); the
        per-device boot orders go, as libvirt refuses both at once."""
        unknown = [dev for dev in devices if dev not in BOOT_DEVICES]
        if unknown:
            raise ValueError(f"'{unknown[0]}' is not one of {', '.join(BOOT_DEVICES)}")
        if len(set(devices)) != len(devices):
            raise ValueError("each boot device may be named once")
        self._clear_boot_orders(())
        self.remove("os/boot")
        os = self.element.find("os")
        if os is None:
            if not devices:
                return
            os = insert_child(self.element, etree.Element("os"))
        previous: Element | None = None
        for dev in devices:
            previous = insert_child(os, etree.Element("boot", dev=dev), after=previous)

    def set_boot_order(self, devices: Sequence[Device]) -> None:
        """Boot from these devices in this order (``<boot order='N'/>`` on each); other
        devices lose theirs, and ``<os><boot dev=.../>`` goes (libvirt refuses both)."""
        mine = {id(device.element) for device in self.devices}
        if any(id(device.element) not in mine for device in devices):
            raise ValueError("a boot device is not one of this guest's devices")
        if len({id(device.element) for device in devices}) != len(devices):
            raise ValueError("each boot device may be named once")
        self.remove("os/boot")
        self._clear_boot_orders(devices)
        for order, device in enumerate(devices, start=1):
            device.boot_order = order

    def _clear_boot_orders(self, keep: Iterable[Device]) -> None:
        kept = {id(device.element) for device in keep}
        for device in self.devices:
            if id(device.element) not in kept:
                device.boot_order = None

    @overload
    def add_device(self, device: str) -> Device: ...
    @overload
    def add_device(self, device: Element) -> Device: ...
    def add_device(self, device: str | Element) -> Device:
        """Add a device (its XML, or an element) after the last of its kind."""
        if isinstance(device, str):
            try:
                element = etree.fromstring(device.encode(), _PARSER)
            except etree.XMLSyntaxError as exc:
                raise ValueError(f"not a device XML: {exc}") from exc
        else:
            element = device
        if not isinstance(element.tag, str) or element.tag in ("domain", "devices"):
            raise ValueError("not a device XML")
        devices = self.element.find("devices")
        if devices is None:
            devices = insert_child(self.element, etree.Element("devices"))
        if indented(devices) and not any(
            (node.tail or "").strip() == "" and "\n" in (node.tail or "") for node in element
        ):
            etree.indent(element, level=len(list(devices.iterancestors())) + 1)
        same = devices.findall(element.tag)
        insert_child(devices, element, order=(), after=same[-1] if same else None)
        return device_of(element)

    def remove_device(self, device: Device) -> None:
        if device.element.getparent() is not self.element.find("devices"):
            raise ValueError("not one of this guest's devices")
        remove_element(device.element)
