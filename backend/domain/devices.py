"""One small class per kind of device under ``<devices>``; each reads and edits its own
element only. Kinds the model has no class for are plain :class:`Device` and stay as
they are."""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from kvmtui.backend.domain.xmlnode import (
    INT,
    ONOFF,
    STR,
    YESNO,
    Element,
    Flag,
    Prop,
    XmlNode,
    find,
    insert_child,
    remove_element,
)

#: The virtio-serial port name qemu-ga listens on.
AGENT_CHANNEL_NAME = "org.qemu.guest_agent.0"

#: The limits one ``<iotune>`` may hold, as libvirt (and blkdeviotune) names them.
IOTUNE_NAMES = (
    "total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
    "total_iops_sec", "read_iops_sec", "write_iops_sec",
    "total_bytes_sec_max", "read_bytes_sec_max", "write_bytes_sec_max",
    "total_iops_sec_max", "read_iops_sec_max", "write_iops_sec_max",
    "total_bytes_sec_max_length", "read_bytes_sec_max_length",
    "write_bytes_sec_max_length", "total_iops_sec_max_length",
    "read_iops_sec_max_length", "write_iops_sec_max_length", "size_iops_sec",
)  # fmt: skip
IOTUNE_GROUP = "group_name"

#: The figures of one direction of a NIC's ``<bandwidth>``.
BANDWIDTH_NAMES = ("average", "peak", "burst", "floor")


class Device(XmlNode):
    """Any device element (``disk``, ``interface``, ``rng``, ``controller``...)."""

    __slots__ = ()

    alias = Prop("alias/@name", STR)
    boot_order = Prop("boot/@order", INT)  # per-device boot order (disks, NICs, hostdevs)


class Source(XmlNode):
    """A ``<source>`` (of a disk or of a backing store): file, block, volume, network."""

    __slots__ = ()

    file = Prop("@file", STR)
    dev = Prop("@dev", STR)
    dir = Prop("@dir", STR)
    pool = Prop("@pool", STR)
    volume = Prop("@volume", STR)
    protocol = Prop("@protocol", STR)  # network: nbd, rbd, iscsi, http...
    name = Prop("@name", STR)  # network: the image or export name

    @property
    def hosts(self) -> tuple[tuple[str | None, int | None], ...]:
        """A network source's servers as (name, port)."""
        return tuple(
            (host.get("name"), INT.read(host.get("port", "")) if host.get("port") else None)
            for host in self.element.iterfind("host")
        )

    @property
    def text(self) -> str | None:
        """One name for it: a path, a directory, a network name, or ``pool/volume``."""
        for value in (self.file, self.dev, self.dir, self.name):
            if value:
                return value
        if self.pool and self.volume:
            return f"{self.pool}/{self.volume}"
        return None


class BackingStore(XmlNode):
    """One layer under a disk's image, as libvirt reports it (``<backingStore>``)."""

    __slots__ = ()

    type = Prop("@type", STR)
    index = Prop("@index", INT)
    format = Prop("format/@type", STR)

    @property
    def source(self) -> Source | None:
        return self.child("source", Source)

    @property
    def next(self) -> BackingStore | None:
        """The layer below; None at the end (an empty ``<backingStore/>`` or nothing)."""
        below = self.element.find("backingStore")
        if below is None or (not below.attrib and len(below) == 0):
            return None
        return BackingStore(below)


class Disk(Device):
    __slots__ = ()

    type = Prop("@type", STR)  # file, block, volume, network, dir
    device = Prop("@device", STR)  # disk, cdrom, floppy, lun; libvirt's default is disk
    driver_name = Prop("driver/@name", STR)
    format = Prop("driver/@type", STR)  # qcow2, raw...
    cache = Prop("driver/@cache", STR)
    target = Prop("target/@dev", STR)  # vda: the name the statistics use too
    bus = Prop("target/@bus", STR)
    readonly = Flag("readonly")
    shareable = Flag("shareable")
    serial = Prop("serial", STR)
    mirror_ready = Prop("mirror/@ready", YESNO)  # a block copy in sync (live XML)

    @property
    def source(self) -> Source | None:
        return self.child("source", Source)

    @property
    def source_text(self) -> str | None:
        source = self.source
        return source.text if source is not None else None

    @property
    def backing_chain(self) -> tuple[BackingStore, ...]:
        """The layers under the image, top first, as far as the XML says."""
        chain: list[BackingStore] = []
        first = self.element.find("backingStore")
        layer = BackingStore(first) if first is not None and (first.attrib or len(first)) else None
        while layer is not None:
            chain.append(layer)
            layer = layer.next
        return tuple(chain)

    @property
    def iotune(self) -> dict[str, int]:
        """The I/O limits set in the XML (element name -> value); group name apart."""
        values: dict[str, int] = {}
        for child in self.element.iterfind("iotune/*"):
            if isinstance(child.tag, str) and child.tag != IOTUNE_GROUP:
                number = INT.read(child.text or "")
                if number is not None:
                    values[child.tag] = number
        return values

    @property
    def iotune_group(self) -> str | None:
        return self.element.findtext(f"iotune/{IOTUNE_GROUP}")

    def set_iotune(self, values: Mapping[str, int], group: str | None = None) -> None:
        """Set the named limits (0 removes one); limits not named stay as they are.
        ``group`` names the throttle group ("" removes it). Raises ValueError."""
        unknown = sorted(set(values) - set(IOTUNE_NAMES))
        if unknown:
            raise ValueError(f"{', '.join(unknown)} is not a disk I/O limit libvirt knows")
        negative = sorted(name for name, value in values.items() if value < 0)
        if negative:
            raise ValueError(f"{negative[0]} must not be negative")
        named: dict[str, str] = {name: str(value) for name, value in values.items() if value}
        cleared = {name for name, value in values.items() if not value}
        if group is not None:
            if group:
                named[IOTUNE_GROUP] = group
            else:
                cleared.add(IOTUNE_GROUP)
        _set_children(self.element, "iotune", named, cleared, order=(*IOTUNE_NAMES, IOTUNE_GROUP))


class Interface(Device):
    """A NIC (``<interface>``)."""

    __slots__ = ()

    type = Prop("@type", STR)  # network, bridge, direct, ethernet, user...
    mac = Prop("mac/@address", STR)
    source_network = Prop("source/@network", STR)
    source_bridge = Prop("source/@bridge", STR)
    source_dev = Prop("source/@dev", STR)  # direct: the host's device (macvtap)
    source_mode = Prop("source/@mode", STR)  # direct: bridge, vepa, private, passthrough
    model = Prop("model/@type", STR)
    target = Prop("target/@dev", STR)  # vnet0: host side while running (the stats name)
    target_managed = Prop("target/@managed", YESNO)  # ethernet: no means a tap made by hand
    link_state = Prop("link/@state", STR)  # up or down; none means up

    @property
    def source(self) -> str | None:
        """The network, bridge or host device it is connected to."""
        return self.source_network or self.source_bridge or self.source_dev

    @property
    def link_up(self) -> bool:
        return self.link_state != "down"

    def set_link(self, up: bool) -> None:
        self.link_state = "up" if up else "down"

    def bandwidth(self, direction: str) -> dict[str, int]:
        """``inbound`` or ``outbound`` figures (average, peak, burst, floor) set in the XML."""
        found = find(self.element, ("bandwidth", direction))
        if found is None:
            return {}
        figures = ((name, INT.read(found.get(name, ""))) for name in BANDWIDTH_NAMES)
        return {name: value for name, value in figures if value is not None}

    def set_bandwidth(self, direction: str, figures: Mapping[str, int]) -> None:
        """Set one direction's figures (0 removes one; none left removes the direction)."""
        if direction not in ("inbound", "outbound"):
            raise ValueError(f"'{direction}' is not inbound or outbound")
        unknown = sorted(set(figures) - set(BANDWIDTH_NAMES))
        if unknown:
            raise ValueError(f"{', '.join(unknown)} is not a bandwidth figure libvirt knows")
        for name, value in figures.items():
            prop: Prop[int] = Prop(f"bandwidth/{direction}/@{name}", INT)
            prop.__set__(self, value or None)


class CharDevice(Device):
    """A serial port, console or channel: where its host side is, and its guest side."""

    __slots__ = ()

    type = Prop("@type", STR)  # pty, unix, file, tcp, spicevmc...
    source_path = Prop("source/@path", STR)
    target_type = Prop("target/@type", STR)  # serial, virtio, isa-serial...
    target_port = Prop("target/@port", INT)
    target_name = Prop("target/@name", STR)  # a channel's port name
    target_state = Prop("target/@state", STR)  # a running channel: connected, disconnected
    log_file = Prop("log/@file", STR)  # where the host also writes what the guest sends


class Serial(CharDevice):
    __slots__ = ()


class Console(CharDevice):
    __slots__ = ()


class Channel(CharDevice):
    __slots__ = ()

    @property
    def is_agent(self) -> bool:
        """The guest agent's channel (qemu-ga's virtio-serial port)."""
        return self.target_name == AGENT_CHANNEL_NAME


class MemBalloon(Device):
    __slots__ = ()

    model = Prop("@model", STR)  # virtio..., none: no balloon
    autodeflate = Prop("@autodeflate", ONOFF)
    stats_period = Prop("stats/@period", INT)  # seconds between the driver's reports

    @property
    def present(self) -> bool:
        return self.model is not None and self.model != "none"


class Graphics(Device):
    __slots__ = ()

    type = Prop("@type", STR)  # vnc, spice, sdl...
    port = Prop("@port", INT)
    autoport = Prop("@autoport", YESNO)
    listen = Prop("@listen", STR)
    listen_type = Prop("listen/@type", STR)
    listen_address = Prop("listen/@address", STR)
    tls_port = Prop("@tlsPort", INT)
    websocket = Prop("@websocket", INT)

    def use_free_ports(self) -> None:
        """Let libvirt pick free ports at start (``autoport``): fixed ones go."""
        if self.port is None and self.tls_port is None and self.websocket is None:
            return
        self.port = None
        self.tls_port = None
        if self.websocket is not None:
            self.websocket = -1  # -1: libvirt picks one too
        self.autoport = True


class Video(Device):
    __slots__ = ()

    model = Prop("model/@type", STR)  # virtio, qxl, vga, cirrus, bochs, none...
    vram = Prop("model/@vram", INT)
    heads = Prop("model/@heads", INT)
    primary = Prop("model/@primary", YESNO)


#: The class for each device element the model knows; others are plain Device.
DEVICE_CLASSES: dict[str, type[Device]] = {
    "disk": Disk,
    "interface": Interface,
    "serial": Serial,
    "console": Console,
    "channel": Channel,
    "memballoon": MemBalloon,
    "graphics": Graphics,
    "video": Video,
}


def device_of(element: Element) -> Device:
    return DEVICE_CLASSES.get(str(element.tag), Device)(element)


def _set_children(
    element: Element,
    path: str,
    named: Mapping[str, str],
    cleared: set[str],
    order: tuple[str, ...],
) -> None:
    """Set the text of children of ``element/path`` (made if needed), remove the cleared
    ones, and remove ``path`` if nothing is left under it."""
    existing = element.find(path)
    if existing is None and not named:
        return
    holder = existing if existing is not None else insert_child(element, etree.Element(path))
    for name in cleared:
        for old in holder.findall(name):
            remove_element(old)
    for name, text in named.items():
        child = holder.find(name)
        if child is None:
            child = insert_child(holder, etree.Element(name), order)
        child.text = text
    if len(holder) == 0 and not holder.attrib:
        remove_element(holder)
