"""The configuration editor's changes, one small typed class each.

A change says what it is about (``label``), where it can go (:class:`Side`: the running
guest, the saved definition, or neither for rename and autostart), why it cannot go
somewhere (``refuse``: a sentence's ending, checked before libvirt is called), how to
apply it to one side (``apply``, returning how to undo it, or why it cannot be undone)
and whether libvirt kept it (``check_back`` on the definition read afterwards).
:mod:`backend.config_edit` runs a list of them as one transaction.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar

import libvirt

from kvmtui.backend import errors, storage
from kvmtui.backend.agent import GuestAgent
from kvmtui.backend.config_state import CACHE_MODES, DiskView, GuestConfig, NicView
from kvmtui.backend.domain import Device, Domain
from kvmtui.backend.domain.build import (
    BUS_PREFIX,
    NIC_KINDS,
    free_target,
    new_disk,
    new_interface,
    new_mac,
    set_media,
)
from kvmtui.backend.host import Host

D = TypeVar("D", bound=Device)
#: A change that adds a drive, whose target name is picked free when it is named.
N = TypeVar("N", "AttachDisk", "AddCdrom")


class Side(StrEnum):
    LIVE = "live"
    SAVED = "saved"
    NONE = "none"  # rename, autostart: neither definition's flags

    @property
    def flag(self) -> int:
        return {
            Side.LIVE: libvirt.VIR_DOMAIN_AFFECT_LIVE,
            Side.SAVED: libvirt.VIR_DOMAIN_AFFECT_CONFIG,
            Side.NONE: 0,
        }[self]

    @property
    def text(self) -> str:
        return {Side.LIVE: "running guest", Side.SAVED: "saved", Side.NONE: ""}[self]


BOTH_SIDES = frozenset({Side.LIVE, Side.SAVED})
SAVED_ONLY = frozenset({Side.SAVED})
NO_SIDE = frozenset({Side.NONE})


@dataclass
class Done:
    """One change applied to one side: what, and how to take it back (None: it cannot
    be, ``why_not`` says why)."""

    what: str
    undo: Callable[[], object] | None
    why_not: str | None = None


@dataclass
class Ctx:
    """What applying needs: the guest, the host, and the configuration before."""

    host: Host
    dom: libvirt.virDomain
    before: GuestConfig

    def domain(self, side: Side) -> Domain:
        """The side's definition now (saved: with secrets, as defineXML needs them)."""
        flags = 0
        if side is Side.SAVED:
            flags = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
        return Domain.from_xml(self.dom.XMLDesc(flags))

    def define(self, xml: str) -> None:
        self.dom.connect().defineXML(xml)


def kib_text(kib: int | None) -> str:
    if kib is None:
        return "-"
    if kib % (1024 * 1024) == 0:
        return f"{kib // (1024 * 1024)} GiB"
    if kib % 1024 == 0:
        return f"{kib // 1024} MiB"
    return f"{kib} KiB"


def _sides_text(live: object, saved: object) -> str:
    if live is None or live == saved:
        return f"{saved}"
    if saved is None:
        return f"{live}"
    return f"{live} running, {saved} saved"


class Change:
    """One edit of the guest. Subclasses are frozen dataclasses."""

    label: ClassVar[str] = ""
    sides: ClassVar[frozenset[Side]] = BOTH_SIDES

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        raise NotImplementedError

    def named(self, taken: set[str]) -> Change:
        """The change with its new device's target name picked free (``taken`` holds the
        targets used so far, and gets this one): the name the pending list, the preview
        and libvirt all see. :func:`~kvmtui.backend.config_edit.named_changes` runs it."""
        return self

    def expand(self, cfg: GuestConfig, taken: set[str]) -> list[Change]:
        """The change as it will run: a free MAC picked (``taken`` holds the MACs picked
        so far), or a step put before it (a volume to create)."""
        return [self]

    def refuse(self, cfg: GuestConfig, side: Side) -> str | None:
        return None

    def apply(self, ctx: Ctx, side: Side) -> Done:
        raise NotImplementedError

    def check_back(self, after: GuestConfig, side: Side) -> str | None:
        return None


# -- CPU and memory -----------------------------------------------------------------------


@dataclass(frozen=True)
class SetVcpus(Change):
    """vCPUs: ``count`` now (live hot-plug up to the maximum) and at boot; ``maximum``
    (saved only) when given."""

    count: int
    maximum: int | None = None
    label: ClassVar[str] = "vCPUs"

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        old = f"{_sides_text(cfg.vcpus_live, cfg.vcpus_saved)} of at most {cfg.vcpus_max}"
        return old, f"{self.count} of at most {self.maximum or cfg.vcpus_max}"

    def refuse(self, cfg: GuestConfig, side: Side) -> str | None:
        if self.count < 1 or (self.maximum is not None and self.maximum < 1):
            return "a guest needs at least 1 vCPU"
        if side is Side.LIVE:
            most = cfg.vcpus_max_live or 0
            if self.count > most:
                return (
                    f"the running guest can have at most {most} (its maximum at boot); "
                    "raise the maximum in the saved configuration and restart it"
                )
            if self.count < (cfg.vcpus_live or 0) and cfg.tcg:
                return (
                    "QEMU without KVM (TCG) cannot unplug a vCPU: the guest crashes (QEMU "
                    "7.2, measured); lower it in the saved configuration only"
                )
        if side is Side.SAVED and self.count > (self.maximum or cfg.vcpus_max or 0):
            return f"{self.count} is more than the maximum of {self.maximum or cfg.vcpus_max}"
        return None

    def apply(self, ctx: Ctx, side: Side) -> Done:
        dom, before = ctx.dom, ctx.before
        if side is Side.LIVE:
            old = before.vcpus_live or 1
            dom.setVcpusFlags(self.count, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            online = ""
            if self.count > old:
                online = (
                    ", online in the guest"
                    if _bring_online(dom, self.count)
                    else ", not brought online (the guest agent did not)"
                )
            what = f"vCPUs {old} -> {self.count} in the running guest{online}"
            if self.count > old and before.tcg:
                return Done(what, None, "QEMU without KVM cannot unplug the vCPUs it added")
            return Done(what, lambda: dom.setVcpusFlags(old, libvirt.VIR_DOMAIN_AFFECT_LIVE))
        old_count, old_max = before.vcpus_saved or 1, before.vcpus_max or 1
        new_max = self.maximum or old_max
        self._set_saved(dom, self.count, new_max, old_max)
        return Done(
            f"vCPUs {old_count} of {old_max} -> {self.count} of {new_max} (saved)",
            lambda: self._set_saved(dom, old_count, old_max, new_max),
        )

    @staticmethod
    def _set_saved(dom: libvirt.virDomain, count: int, maximum: int, old_max: int) -> None:
        config = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if maximum > old_max:  # room first, then the count; the other way when lowering
            dom.setVcpusFlags(maximum, config | libvirt.VIR_DOMAIN_VCPU_MAXIMUM)
        dom.setVcpusFlags(count, config)
        if maximum < old_max:
            dom.setVcpusFlags(maximum, config | libvirt.VIR_DOMAIN_VCPU_MAXIMUM)

    def check_back(self, after: GuestConfig, side: Side) -> str | None:
        got = after.vcpus_live if side is Side.LIVE else after.vcpus_saved
        if got != self.count:
            return f"vCPUs read back as {got}, not {self.count} ({side.text})"
        return None


#: How long the guest may take to see hot-plugged vCPUs before the agent onlines them.
ONLINE_WITHIN_S = 5.0
#: How long new memory blocks seen offline are left to a guest that onlines them itself
#: before the agent onlines them: the kernel registers a block, then onlines it, and under
#: load the agent can read between the two (seen with two CPU hogs on the host).
SELF_ONLINE_S = 1.5


def _bring_online(dom: libvirt.virDomain, count: int) -> bool:
    """Hot-plugged vCPUs arrive offline (no udev rule in many guests): bring them up
    through the guest agent once the guest has seen them (about 0.3 s under TCG)."""
    deadline = time.monotonic() + ONLINE_WITHIN_S
    while True:
        try:
            dom.setVcpusFlags(count, libvirt.VIR_DOMAIN_VCPU_GUEST)
            return True
        except libvirt.libvirtError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)


MEMORY_ACTION = "online memory in"


class AgentCommands(Protocol):
    """What memory onlining needs of the guest agent (a :class:`GuestAgent`, or recorded
    answers replayed in the unit tests)."""

    def command(self, action: str, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """One agent command; its ``return`` value."""


def memory_blocks(agent: AgentCommands) -> dict[int, bool] | None:
    """The guest's memory blocks (phys-index: online), or None when the agent does not
    answer (no agent, not running yet, or the command disabled)."""
    try:
        blocks = agent.command(MEMORY_ACTION, "guest-get-memory-blocks") or []
    except errors.KvmtuiError:
        return None
    return {int(b["phys-index"]): bool(b.get("online")) for b in blocks if "phys-index" in b}


def new_blocks(before: dict[int, bool], now: dict[int, bool]) -> dict[int, bool]:
    """The blocks a plug added: phys-indexes the guest did not have before. Blocks that
    were there (offline for reasons of their own, or the admin's) are never touched."""
    return {index: online for index, online in now.items() if index not in before}


def refused_blocks(responses: list[dict[str, object]]) -> list[str]:
    """``guest-set-memory-blocks``' per-block answers that are not a success, as text
    (``block 12: operation-failed, error 16``)."""
    failed = []
    for answer in responses:
        if answer.get("response") == "success":
            continue
        code = answer.get("error-code")
        why = f"{answer.get('response', 'no answer')}" + (f", error {code}" if code else "")
        failed.append(f"block {answer.get('phys-index', '?')}: {why}")
    return failed


def online_text(fresh: dict[int, bool], failed: list[str]) -> str:
    """What the editor says about a plugged DIMM's memory in the guest: ``fresh`` the new
    blocks as first seen, ``failed`` the agent's refusals of the offline ones."""
    if not fresh:
        return f", not seen by the guest within {ONLINE_WITHIN_S:g} s (no new memory block)"
    if failed:
        return f", {len(failed)} of {len(fresh)} new memory blocks not online (" + (
            "; ".join(failed) + ")"
        )
    if all(fresh.values()):
        return ", online (the guest brought it online itself)"
    return ", online in the guest"


def online_memory(agent: AgentCommands, before: dict[int, bool] | None) -> str:
    """A hot-plugged DIMM's memory blocks arrive offline in guests without a udev rule
    (the tiny guest's kernel leaves them so, measured), online in guests with one (Ubuntu,
    RHEL): wait until the guest has the new blocks (``before``: its blocks before the
    plug), leave those seen offline :data:`SELF_ONLINE_S` to the guest, bring those still
    offline online through the guest agent, check each block's answer; say what
    happened."""
    if before is None:
        return ", not brought online (the guest agent did not answer before the plug)"
    deadline = time.monotonic() + ONLINE_WITHIN_S
    fresh: dict[int, bool] = {}
    while True:
        now = memory_blocks(agent)
        fresh = new_blocks(before, now) if now is not None else {}
        if fresh or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    settle = time.monotonic() + SELF_ONLINE_S
    while fresh and not all(fresh.values()) and time.monotonic() < settle:
        time.sleep(0.2)  # the guest may be onlining them itself
        now = memory_blocks(agent)
        if now is not None:
            fresh = {index: now.get(index, online) for index, online in fresh.items()}
    offline = [index for index, online in fresh.items() if not online]
    failed: list[str] = []
    if offline:
        wanted = [{"phys-index": index, "online": True} for index in offline]
        try:
            responses = agent.command(
                MEMORY_ACTION, "guest-set-memory-blocks", {"mem-blks": wanted}
            )
            failed = refused_blocks(list(responses or []))
        except errors.KvmtuiError as exc:
            return f", not brought online ({exc})"
    return online_text(fresh, failed)


@dataclass(frozen=True)
class SetMemory(Change):
    """Memory: ``current_kib`` (the balloon's target live, current memory at boot) and,
    saved only, the ``maximum_kib``."""

    current_kib: int
    maximum_kib: int | None = None
    label: ClassVar[str] = "memory"

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        old = _sides_text(kib_text(cfg.memory_live_kib), kib_text(cfg.memory_saved_kib))
        most = self.maximum_kib or cfg.memory_max_kib
        return f"{old} of at most {kib_text(cfg.memory_max_kib)}", (
            f"{kib_text(self.current_kib)} of at most {kib_text(most)}"
        )

    def refuse(self, cfg: GuestConfig, side: Side) -> str | None:
        if self.current_kib <= 0 or (self.maximum_kib is not None and self.maximum_kib <= 0):
            return "memory must be more than 0"
        if side is Side.LIVE and self.current_kib > (cfg.memory_max_live_kib or 0):
            way = (
                "plug a DIMM (+size) first"
                if cfg.memory_hotplug is None
                else "raise the maximum (saved) and restart"
            )
            return (
                f"{kib_text(self.current_kib)} is more than the running guest's maximum of "
                f"{kib_text(cfg.memory_max_live_kib)}; {way}"
            )
        most = self.maximum_kib or cfg.memory_max_kib or 0
        if side is Side.SAVED and self.current_kib > most:
            return f"{kib_text(self.current_kib)} is more than the maximum of {kib_text(most)}"
        return None

    def apply(self, ctx: Ctx, side: Side) -> Done:
        dom, before = ctx.dom, ctx.before
        if side is Side.LIVE:
            old = before.memory_live_kib or self.current_kib
            dom.setMemoryFlags(self.current_kib, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            return Done(
                f"memory {kib_text(old)} -> {kib_text(self.current_kib)} (balloon)",
                lambda: dom.setMemoryFlags(old, libvirt.VIR_DOMAIN_AFFECT_LIVE),
            )
        old_current = before.memory_saved_kib or self.current_kib
        old_max = before.memory_max_kib or self.current_kib
        new_max = self.maximum_kib or old_max
        self._set_saved(dom, self.current_kib, new_max, old_max)
        return Done(
            f"memory {kib_text(old_current)} of {kib_text(old_max)} -> "
            f"{kib_text(self.current_kib)} of {kib_text(new_max)} (saved)",
            lambda: self._set_saved(dom, old_current, old_max, new_max),
        )

    @staticmethod
    def _set_saved(dom: libvirt.virDomain, current: int, maximum: int, old_max: int) -> None:
        config = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if maximum != old_max:  # libvirt lowers the current amount with the maximum
            dom.setMemoryFlags(maximum, config | libvirt.VIR_DOMAIN_MEM_MAXIMUM)
        dom.setMemoryFlags(current, config)

    def check_back(self, after: GuestConfig, side: Side) -> str | None:
        got = after.memory_live_kib if side is Side.LIVE else after.memory_saved_kib
        if got == self.current_kib:
            return None
        if side is Side.LIVE:  # libvirt reports where the balloon is, not its target
            return (
                f"the balloon is at {kib_text(got)}, on its way to {kib_text(self.current_kib)} "
                "(the guest's driver moves it)"
            )
        return f"memory read back as {kib_text(got)}, not {kib_text(self.current_kib)}"


CPU_MODES = ("host-passthrough", "host-model", "maximum")


@dataclass(frozen=True)
class SetCpuMode(Change):
    """The CPU the guest sees: host-passthrough, host-model, maximum, or a named model."""

    mode: str  # one of CPU_MODES, or a model name (custom)
    label: ClassVar[str] = "CPU mode"
    sides: ClassVar[frozenset[Side]] = SAVED_ONLY

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        return cfg.cpu_text, self.mode

    def refuse(self, cfg: GuestConfig, side: Side) -> str | None:
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", self.mode):
            return f"'{self.mode}' is not a CPU mode or model name"
        return None

    def apply(self, ctx: Ctx, side: Side) -> Done:
        return _redefine(ctx, self._edit, f"CPU mode -> {self.mode} (saved)")

    def _edit(self, domain: Domain) -> None:
        domain.remove("cpu/model")
        if self.mode in CPU_MODES:
            domain.cpu_mode = self.mode
        else:
            domain.cpu_mode = "custom"
            domain.cpu_model = self.mode

    def check_back(self, after: GuestConfig, side: Side) -> str | None:
        return None if after.cpu_text == self.mode else f"CPU reads back as {after.cpu_text}"


def _redefine(ctx: Ctx, edit: Callable[[Domain], None], what: str) -> Done:
    """Edit the saved definition through the model and define it; undo defines the old."""
    domain = ctx.domain(Side.SAVED)
    old = domain.to_xml()
    edit(domain)
    ctx.define(domain.to_xml())
    return Done(what, lambda: ctx.define(old))


@dataclass(frozen=True)
class AddDimm(Change):
    """Memory hot-plug: a DIMM (``<memory model='dimm'>``) of ``size_kib`` on NUMA node 0,
    live up to ``<maxMemory>`` and in the saved definition. ``*_before`` are filled when
    planned, for the read-back."""

    size_kib: int
    live_before: int | None = None
    saved_before: int | None = None
    label: ClassVar[str] = "memory DIMM"

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        now = cfg.memory_max_live_kib or cfg.memory_max_kib or 0
        most = kib_text(cfg.memory_hotplug_kib)
        return f"{kib_text(now)} of at most {most}", (
            f"{kib_text(now + self.size_kib)} (+{kib_text(self.size_kib)} DIMM) of at most {most}"
        )

    def expand(self, cfg: GuestConfig, taken: set[str]) -> list[Change]:
        return [replace(self, live_before=cfg.memory_max_live_kib, saved_before=cfg.memory_max_kib)]

    def refuse(self, cfg: GuestConfig, side: Side) -> str | None:
        if self.size_kib <= 0:
            return "a DIMM needs a size more than 0"
        if cfg.memory_hotplug is not None:
            return f"{cfg.memory_hotplug}; the maximum changes in the saved definition only"
        now = (cfg.memory_max_live_kib if side is Side.LIVE else cfg.memory_max_kib) or 0
        if now + self.size_kib > (cfg.memory_hotplug_kib or 0):
            return (
                f"{kib_text(now)} and {kib_text(self.size_kib)} more is over the guest's "
                f"<maxMemory> of {kib_text(cfg.memory_hotplug_kib)}"
            )
        if side is Side.LIVE and cfg.dimms_live >= (cfg.memory_slots or 0):
            return f"all {cfg.memory_slots} memory slots of the running guest are taken"
        return None

    def apply(self, ctx: Ctx, side: Side) -> Done:
        xml = (
            "<memory model='dimm'><target>"
            f"<size unit='KiB'>{self.size_kib}</size><node>0</node></target></memory>"
        )
        if side is not Side.LIVE:
            return _attach(ctx, side, xml, f"a {kib_text(self.size_kib)} DIMM")
        agent = GuestAgent(ctx.host, ctx.before.uuid, limit_s=5.0)
        before = memory_blocks(agent)  # only the blocks the plug adds are brought online
        done = _attach(ctx, side, xml, f"a {kib_text(self.size_kib)} DIMM")
        done.what += online_memory(agent, before)
        return done

    def check_back(self, after: GuestConfig, side: Side) -> str | None:
        before = self.live_before if side is Side.LIVE else self.saved_before
        got = after.memory_max_live_kib if side is Side.LIVE else after.memory_max_kib
        wanted = (before or 0) + self.size_kib
        return None if got == wanted else f"memory reads back as {kib_text(got)} ({side.text})"


# -- boot -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SetBoot(Change):
    """Boot order across disks, CD-ROMs and NICs (targets and MACs), and the boot menu."""

    order: tuple[str, ...]
    menu: bool | None = None
    label: ClassVar[str] = "boot"
    sides: ClassVar[frozenset[Side]] = SAVED_ONLY

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        menu_old = "menu on" if cfg.boot_menu else "menu off"
        menu_new = menu_old if self.menu is None else ("menu on" if self.menu else "menu off")
        order = ", ".join(self.order) or cfg.boot_text  # none given: the order stays
        return f"{cfg.boot_text}; {menu_old}", f"{order}; {menu_new}"

    def refuse(self, cfg: GuestConfig, side: Side) -> str | None:
        known = {d.target for d in cfg.disks if d.saved} | {n.mac for n in cfg.nics if n.saved}
        unknown = [name for name in self.order if name.lower() not in known]
        if unknown:
            return f"'{unknown[0]}' is not a disk target or NIC MAC of the saved definition"
        if len(set(self.order)) != len(self.order):
            return "each boot device may be named once"
        return None

    def apply(self, ctx: Ctx, side: Side) -> Done:
        menu = "" if self.menu is None else f", menu {'on' if self.menu else 'off'}"
        order = ", ".join(self.order) or "order kept"
        return _redefine(ctx, self._edit, f"boot -> {order}{menu} (saved)")

    def _edit(self, domain: Domain) -> None:
        devices = []
        for name in self.order:
            found = domain.disk(name) or domain.interface(name)
            if found is not None:
                devices.append(found)
        if devices:
            domain.set_boot_order(devices)
        if self.menu is not None:
            domain.boot_menu = self.menu


# -- identity -------------------------------------------------------------------------


@dataclass(frozen=True)
class SetText(Change):
    """Title or description (libvirt metadata, live and saved); "" removes it."""

    field: str  # title, description
    text: str
    sides: ClassVar[frozenset[Side]] = BOTH_SIDES

    @property
    def kind(self) -> int:
        if self.field == "title":
            return libvirt.VIR_DOMAIN_METADATA_TITLE
        return libvirt.VIR_DOMAIN_METADATA_DESCRIPTION

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        return (getattr(cfg, self.field) or "-"), (self.text or "-")

    def refuse(self, cfg: GuestConfig, side: Side) -> str | None:
        if self.field not in ("title", "description"):
            return f"'{self.field}' is not title or description"
        if self.field == "title" and "\n" in self.text:
            return "a title is one line"
        return None

    def apply(self, ctx: Ctx, side: Side) -> Done:
        dom = ctx.dom
        try:
            old: str | None = dom.metadata(self.kind, None, side.flag)
        except libvirt.libvirtError:  # VIR_ERR_NO_DOMAIN_METADATA: none set
            old = None
        dom.setMetadata(self.kind, self.text or None, None, None, side.flag)
        return Done(
            f"{self.field} -> {self.text or '(none)'} ({side.text})",
            lambda: dom.setMetadata(self.kind, old, None, None, side.flag),
        )

    def check_back(self, after: GuestConfig, side: Side) -> str | None:
        got = getattr(after, self.field) or ""
        return None if got == self.text else f"{self.field} reads back as '{got}'"


@dataclass(frozen=True)
class Rename(Change):
    name: str
    label: ClassVar[str] = "name"
    sides: ClassVar[frozenset[Side]] = NO_SIDE

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        return cfg.name, self.name

    def refuse(self, cfg: GuestConfig, side: Side) -> str | None:
        if cfg.active:
            return "libvirt renames only a shut-off guest; shut it down first"
        if not cfg.persistent:
            return "a transient guest cannot be renamed"
        if not self.name.strip() or "/" in self.name or self.name != self.name.strip():
            return f"'{self.name}' is not a guest name (no '/', no leading or trailing spaces)"
        return None

    def apply(self, ctx: Ctx, side: Side) -> Done:
        dom, old = ctx.dom, ctx.before.name
        dom.rename(self.name, 0)
        return Done(f"renamed {old} -> {self.name}", lambda: dom.rename(old, 0))

    def check_back(self, after: GuestConfig, side: Side) -> str | None:
        return None if after.name == self.name else f"the name reads back as {after.name}"


@dataclass(frozen=True)
class SetAutostart(Change):
    enabled: bool
    label: ClassVar[str] = "autostart"
    sides: ClassVar[frozenset[Side]] = NO_SIDE

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        return ("on" if cfg.autostart else "off"), ("on" if self.enabled else "off")

    def refuse(self, cfg: GuestConfig, side: Side) -> str | None:
        return None if cfg.persistent else "a transient guest cannot autostart"

    def apply(self, ctx: Ctx, side: Side) -> Done:
        dom, old = ctx.dom, ctx.before.autostart
        dom.setAutostart(1 if self.enabled else 0)
        return Done(
            f"autostart {'on' if self.enabled else 'off'}",
            lambda: dom.setAutostart(1 if old else 0),
        )

    def check_back(self, after: GuestConfig, side: Side) -> str | None:
        return None if after.autostart == self.enabled else "autostart did not change"


# -- disks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateVolume(Change):
    """A new thin volume in a pool, for :class:`AttachDisk` (expanded from it)."""

    pool: str
    volume: str
    size: str  # as typed: 1G, 512M
    fmt: str = "qcow2"
    label: ClassVar[str] = "new volume"
    sides: ClassVar[frozenset[Side]] = NO_SIDE

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        return "-", f"{self.pool}/{self.volume} ({self.size}, thin {self.fmt})"

    def refuse(self, cfg: GuestConfig, side: Side) -> str | None:
        try:
            storage.validate_name(self.volume)
            storage.parse_size(self.size)
        except storage.StorageValueError as exc:
            return str(exc).rstrip(".")
        return None

    def apply(self, ctx: Ctx, side: Side) -> Done:
        host = ctx.host
        made = storage.create_volume(host, self.pool, self.volume, self.size, self.fmt)
        return Done(
            f"created {made.pool}/{made.name} ({made.format}, thin)",
            lambda: storage.delete_volume(host, self.pool, self.volume),
        )


class SourceKind(StrEnum):
    NEW = "new"  # a new thin volume in a pool
    VOLUME = "volume"  # an existing volume
    PATH = "path"  # a host path (file or block device)


# -- what the device changes share: where a device is, one libvirt call each way ------


def _on(view: DiskView | NicView | None, side: Side) -> bool:
    """Whether the device is on that side (the running guest, the saved definition)."""
    return view is not None and (view.live if side is Side.LIVE else view.saved)


def _missing(view: DiskView | NicView | None, side: Side, name: str) -> str | None:
    """Why a change of an existing device cannot go to ``side``, or None."""
    if view is None:
        return f"the guest has no {name}"
    if not _on(view, side):
        where = "the running guest" if side is Side.LIVE else "the saved definition"
        return f"{name} is not in {where}"
    return None


def _targeted(change: N, taken: set[str]) -> N:
    """``change`` with its target: the one it has, else the first free one on its bus."""
    target = change.target or free_target(change.bus, taken)
    taken.add(target)
    return replace(change, target=target)


def _attach(ctx: Ctx, side: Side, xml: str, what: str) -> Done:
    dom = ctx.dom
    dom.attachDeviceFlags(xml, side.flag)
    return Done(f"attached {what} ({side.text})", lambda: dom.detachDeviceFlags(xml, side.flag))


def _detach(ctx: Ctx, side: Side, device: Device | None, what: str) -> Done:
    if device is None:
        raise _gone(ctx, what)
    xml, dom = device.xml(), ctx.dom
    dom.detachDeviceFlags(xml, side.flag)
    return Done(f"detached {what} ({side.text})", lambda: dom.attachDeviceFlags(xml, side.flag))


def _update(ctx: Ctx, side: Side, device: D | None, edit: Callable[[D], None], what: str) -> Done:
    """Edit the device's element and send it with updateDeviceFlags; undo sends the old."""
    if device is None:
        raise _gone(ctx, what)
    old, dom = device.xml(), ctx.dom
    edit(device)
    dom.updateDeviceFlags(device.xml(), side.flag)
    return Done(f"{what} ({side.text})", lambda: dom.updateDeviceFlags(old, side.flag))


def _volume(ctx: Ctx, pool: str, name: str) -> storage.Volume:
    volume = storage.read_pool(ctx.host, pool).volume(name)
    if volume is None:
        raise storage.StorageValueError(
            f"Pool '{pool}' has no volume '{name}' on {ctx.host.label}."
        )
    return volume


def _gone(ctx: Ctx, what: str) -> errors.OperationError:
    return errors.OperationError(
        f"{what} of guest '{ctx.before.name}' on {ctx.host.label} is gone; read the guest again."
    )


class _Device(Change):
    """A change that adds or removes one disk or NIC: ``what`` names it ("disk vdb"),
    ``view`` finds it in a configuration."""

    @property
    def what(self) -> str:
        raise NotImplementedError

    def view(self, cfg: GuestConfig) -> DiskView | NicView | None:
        raise NotImplementedError


class _Attached(_Device):
    """Attaching: read back, the device is on the side."""

    def check_back(self, after: GuestConfig, side: Side) -> str | None:
        return None if _on(self.view(after), side) else f"{self.what} is not there ({side.text})"


class _Detached(_Device):
    """Detaching: the device must be on the side; its element is sent back on undo."""

    def element(self, domain: Domain) -> Device | None:
        raise NotImplementedError

    def refuse(self, cfg: GuestConfig, side: Side) -> str | None:
        return _missing(self.view(cfg), side, self.what)

    def apply(self, ctx: Ctx, side: Side) -> Done:
        return _detach(ctx, side, self.element(ctx.domain(side)), self.what)

    def check_back(self, after: GuestConfig, side: Side) -> str | None:
        if _on(self.view(after), side):
            return f"{self.what} is still there ({side.text}): the guest has not let go"
        return None


@dataclass(frozen=True)
class AttachDisk(_Attached):
    kind: SourceKind
    source: str  # a volume name (NEW, VOLUME) or a host path (PATH)
    pool: str | None = None
    size: str = "1G"  # NEW only
    fmt: str | None = None  # qcow2, raw; None: the volume's, or guessed from the path
    bus: str = "virtio"
    readonly: bool = False
    target: str | None = None  # picked free when planned
    created: bool = False  # a VOLUME step whose volume a NEW disk makes just before
    label: ClassVar[str] = "disk"

    @property
    def source_text(self) -> str:
        return f"{self.pool}/{self.source}" if self.kind is not SourceKind.PATH else self.source

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        new = "new thin volume " if self.kind is SourceKind.NEW or self.created else ""
        target = self.target or f"{BUS_PREFIX.get(self.bus, '?')}?"
        return "-", f"{target} ({self.bus}): {new}{self.source_text}"

    def named(self, taken: set[str]) -> Change:
        return _targeted(self, taken) if self.bus in BUS_PREFIX else self

    def expand(self, cfg: GuestConfig, taken: set[str]) -> list[Change]:
        if self.kind is SourceKind.NEW:
            create = CreateVolume(self.pool or "", self.source, self.size, self.fmt or "qcow2")
            attach = replace(self, kind=SourceKind.VOLUME, fmt=self.fmt or "qcow2", created=True)
            return [create, attach]
        return [self]

    def refuse(self, cfg: GuestConfig, side: Side) -> str | None:
        if self.bus not in BUS_PREFIX:
            return f"'{self.bus}' is not a disk bus ({', '.join(BUS_PREFIX)})"
        if self.kind is SourceKind.PATH and not self.source.startswith("/"):
            return f"'{self.source}' is not an absolute host path"
        if self.kind is not SourceKind.PATH and not self.pool:
            return "a volume needs its pool"
        if not self.source:
            return "no volume or path given"
        if side is Side.LIVE and self.bus in ("ide", "sata"):
            return f"a {self.bus} disk cannot be plugged into a running guest; choose virtio"
        return None

    def element_xml(self, ctx: Ctx) -> str:
        path, fmt = self.source, self.fmt
        if self.kind is not SourceKind.PATH:
            volume = _volume(ctx, self.pool or "", self.source)
            path, fmt = volume.path, fmt or volume.format
        if fmt is None or fmt not in ("qcow2", "raw"):
            fmt = "qcow2" if path.endswith(".qcow2") else "raw"
        disk = new_disk(
            source=path,
            target=self.target or "",
            bus=self.bus,
            source_type="block" if path.startswith("/dev/") else "file",
            fmt=fmt,
            readonly=self.readonly,
        )
        return disk.xml()

    @property
    def what(self) -> str:
        return f"disk {self.target}"

    def view(self, cfg: GuestConfig) -> DiskView | None:
        return cfg.disk(self.target or "")

    def apply(self, ctx: Ctx, side: Side) -> Done:
        what = f"{self.target} ({self.source_text})"
        return _attach(ctx, side, self.element_xml(ctx), what)


@dataclass(frozen=True)
class DetachDisk(_Detached):
    target: str
    label: ClassVar[str] = "disk"

    @property
    def what(self) -> str:
        return f"disk {self.target}"

    def view(self, cfg: GuestConfig) -> DiskView | None:
        return cfg.disk(self.target)

    def element(self, domain: Domain) -> Device | None:
        return domain.disk(self.target)

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        disk = cfg.disk(self.target)
        return f"{self.target}: {(disk.source or '(empty)') if disk else '?'}", "(detached)"


@dataclass(frozen=True)
class ChangeMedia(Change):
    """Insert an ISO into a CD-ROM drive, a host path or (``pool`` given) a volume's name,
    or eject it (``path`` None)."""

    target: str
    path: str | None
    pool: str | None = None
    label: ClassVar[str] = "CD-ROM"

    @property
    def media_text(self) -> str:
        if self.path is None:
            return "(empty)"
        return f"{self.pool}/{self.path}" if self.pool else self.path

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        disk = cfg.disk(self.target)
        old = disk.source if disk is not None else None
        return f"{self.target}: {old or '(empty)'}", f"{self.target}: {self.media_text}"

    def refuse(self, cfg: GuestConfig, side: Side) -> str | None:
        disk = cfg.disk(self.target)
        if disk is None or not disk.cdrom:
            return f"{self.target} is not a CD-ROM drive of the guest"
        if self.path is not None and not self.pool and not self.path.startswith("/"):
            return f"'{self.path}' is not an absolute host path or a pool/volume"
        return _missing(disk, side, f"drive {self.target}")

    def apply(self, ctx: Ctx, side: Side) -> Done:
        path = self.path
        if path is not None and self.pool:
            path = _volume(ctx, self.pool, path).path
        verb = f"inserted {self.media_text} into" if path else "ejected"
        return _update(
            ctx,
            side,
            ctx.domain(side).disk(self.target),
            lambda disk: set_media(disk, path),
            f"{verb} {self.target}",
        )

    def check_back(self, after: GuestConfig, side: Side) -> str | None:
        disk = after.disk(self.target)
        if disk is None:
            return f"drive {self.target} is gone"
        got = (disk.source if side is Side.LIVE else disk.saved_source) or None
        wanted = self.path
        if got is not None and wanted is not None and self.pool:  # the volume's path
            wanted = got if got.endswith(f"/{wanted}") else wanted
        if got != wanted:
            return f"{self.target} holds {got or 'nothing'} ({side.text})"
        return None


@dataclass(frozen=True)
class SetDiskOptions(Change):
    """A disk's cache mode (one of CACHE_MODES), shareable and read-only; None keeps one.
    Saved only: libvirt cannot change them in a running guest."""

    target: str
    cache: str | None = None
    shareable: bool | None = None
    readonly: bool | None = None
    label: ClassVar[str] = "disk options"
    sides: ClassVar[frozenset[Side]] = SAVED_ONLY

    def wanted(self, disk: DiskView) -> DiskView:
        return replace(
            disk,
            cache=disk.cache if self.cache is None else self.cache,
            shareable=disk.shareable if self.shareable is None else self.shareable,
            readonly=disk.readonly if self.readonly is None else self.readonly,
        )

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        disk = cfg.disk(self.target)
        if disk is None:
            return f"{self.target}: ?", "?"
        later = "; after a restart (libvirt cannot change these live)" if cfg.active else ""
        new = self.wanted(disk).options_text
        return f"{self.target}: {disk.options_text}", f"{self.target}: {new}{later}"

    def refuse(self, cfg: GuestConfig, side: Side) -> str | None:
        disk = cfg.disk(self.target)
        missing = _missing(disk, side, f"disk {self.target}")
        if missing or disk is None:
            return missing
        if self.cache is not None and self.cache not in CACHE_MODES:
            return f"'{self.cache}' is not a cache mode ({', '.join(CACHE_MODES)})"
        if disk.cdrom and self.readonly is False:
            return "a CD-ROM drive is always read-only"
        new = self.wanted(disk)
        if new.shareable and not new.readonly and disk.format == "qcow2":
            return SHARED_QCOW2
        return None

    def apply(self, ctx: Ctx, side: Side) -> Done:
        what = f"disk {self.target} options (saved)"
        return _redefine(ctx, self._edit, what)

    def _edit(self, domain: Domain) -> None:
        disk = domain.disk(self.target)
        if disk is None:
            raise ValueError(f"the saved definition has no disk {self.target}")
        if self.cache is not None:
            disk.cache = None if self.cache == "default" else self.cache
        if self.shareable is not None:
            disk.shareable = self.shareable
        if self.readonly is not None:
            disk.readonly = self.readonly

    def check_back(self, after: GuestConfig, side: Side) -> str | None:
        disk = after.disk(self.target)
        if disk is None:
            return f"disk {self.target} is gone"
        wanted = self.wanted(disk)
        if self.cache == "default":
            wanted = replace(wanted, cache=None)
        if disk.options_text != wanted.options_text:
            return f"disk {self.target} reads back as {disk.options_text}"
        return None


#: Why a writable shareable qcow2 disk is refused before libvirt: libvirt 9.0 refuses it
#: whatever the cache mode (none or writeback alike: "shared access for disk 'vda' requires
#: use of supported storage format", measured).
SHARED_QCOW2 = (
    "libvirt shares a writable disk only in raw format, whatever the cache mode; make it "
    "raw or read-only"
)

#: The buses a new CD-ROM drive can go on.
CDROM_BUSES = ("scsi", "sata")


@dataclass(frozen=True)
class AddCdrom(Change):
    """A new CD-ROM drive on SCSI (with a virtio-scsi controller added when the guest
    has no SCSI controller) or SATA, empty or holding ``media`` (a host path). Saved only:
    these buses take no new drive while the guest runs."""

    bus: str = "scsi"
    media: str | None = None
    target: str | None = None  # picked free when planned
    label: ClassVar[str] = "new CD-ROM drive"
    sides: ClassVar[frozenset[Side]] = SAVED_ONLY

    def controller_needed(self, cfg: GuestConfig) -> bool:
        return self.bus == "scsi" and "scsi" not in cfg.controllers

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        target = self.target or f"{BUS_PREFIX.get(self.bus, '?')}?"
        extra = "; + virtio-scsi controller" if self.controller_needed(cfg) else ""
        later = "; after a restart" if cfg.active else ""
        return "-", f"{target} ({self.bus}): {self.media or '(empty)'}{extra}{later}"

    def named(self, taken: set[str]) -> Change:
        return _targeted(self, taken) if self.bus in CDROM_BUSES else self

    def refuse(self, cfg: GuestConfig, side: Side) -> str | None:
        if self.bus not in CDROM_BUSES:
            return f"a new CD-ROM drive goes on {' or '.join(CDROM_BUSES)}, not '{self.bus}'"
        if self.media is not None and not self.media.startswith("/"):
            return f"'{self.media}' is not an absolute host path"
        return None

    def apply(self, ctx: Ctx, side: Side) -> Done:
        extra = " and a virtio-scsi controller" if self.controller_needed(ctx.before) else ""
        return _redefine(ctx, self._edit, f"added CD-ROM drive {self.target}{extra} (saved)")

    def _edit(self, domain: Domain) -> None:
        types = {d.element.get("type") for d in domain.devices if d.element.tag == "controller"}
        if self.bus == "scsi" and "scsi" not in types:
            domain.add_device("<controller type='scsi' model='virtio-scsi'/>")
        drive = new_disk(
            source=self.media, target=self.target or "", bus=self.bus, device="cdrom"
        )
        domain.add_device(drive.element)

    def check_back(self, after: GuestConfig, side: Side) -> str | None:
        drive = after.disk(self.target or "")
        there = drive is not None and drive.cdrom and drive.saved
        return None if there else f"CD-ROM drive {self.target} is not there ({side.text})"


@dataclass(frozen=True)
class RemoveCdrom(DetachDisk):
    """Remove a CD-ROM drive from the saved definition (gone after a restart)."""

    label: ClassVar[str] = "remove CD-ROM drive"
    sides: ClassVar[frozenset[Side]] = SAVED_ONLY

    @property
    def what(self) -> str:
        return f"CD-ROM drive {self.target}"

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        old, new = super().old_new(cfg)
        return old, f"{new[:-1]}, after a restart)" if cfg.active else new

    def refuse(self, cfg: GuestConfig, side: Side) -> str | None:
        drive = cfg.disk(self.target)
        if drive is not None and not drive.cdrom:
            return f"{self.target} is not a CD-ROM drive; detach it as a disk"
        return super().refuse(cfg, side)


# -- NICs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AttachNic(_Attached):
    kind: str  # network, bridge, direct
    source: str
    model: str = "virtio"
    mac: str | None = None  # generated when planned
    label: ClassVar[str] = "NIC"

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        return "-", f"{self.mac or '(new MAC)'}: {self.kind} {self.source}, {self.model}"

    def expand(self, cfg: GuestConfig, taken: set[str]) -> list[Change]:
        mac = self.mac or new_mac(taken | {n.mac for n in cfg.nics})
        taken.add(mac)
        return [replace(self, mac=mac)]

    def refuse(self, cfg: GuestConfig, side: Side) -> str | None:
        if self.kind not in NIC_KINDS:
            return f"'{self.kind}' is not a NIC kind kvmtui attaches ({', '.join(NIC_KINDS)})"
        if not self.source:
            return f"a {self.kind} NIC needs a source"
        if self.mac and not re.fullmatch(r"([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}", self.mac):
            return f"'{self.mac}' is not a MAC address"
        if self.mac and cfg.nic(self.mac) is not None:
            return f"the guest already has a NIC {self.mac}"
        return None

    @property
    def what(self) -> str:
        return f"NIC {self.mac}"

    def view(self, cfg: GuestConfig) -> NicView | None:
        return cfg.nic(self.mac or "")

    def apply(self, ctx: Ctx, side: Side) -> Done:
        nic = new_interface(self.kind, self.source, model=self.model, mac=self.mac or "")
        return _attach(ctx, side, nic.xml(), self.what)


@dataclass(frozen=True)
class DetachNic(_Detached):
    mac: str
    label: ClassVar[str] = "NIC"

    @property
    def what(self) -> str:
        return f"NIC {self.mac}"

    def view(self, cfg: GuestConfig) -> NicView | None:
        return cfg.nic(self.mac)

    def element(self, domain: Domain) -> Device | None:
        return domain.interface(self.mac)

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        nic = cfg.nic(self.mac)
        return f"{self.mac}: {nic.kind if nic else '?'} {nic.source if nic else ''}", "(detached)"


@dataclass(frozen=True)
class SetLink(Change):
    mac: str
    up: bool
    label: ClassVar[str] = "link"

    def old_new(self, cfg: GuestConfig) -> tuple[str, str]:
        nic = cfg.nic(self.mac)

        def word(state: bool | None) -> str | None:
            return None if state is None else ("up" if state else "down")

        old = _sides_text(word(nic.link_live), word(nic.link_saved)) if nic else "?"
        return f"{self.mac}: {old}", f"{self.mac}: {'up' if self.up else 'down'}"

    def refuse(self, cfg: GuestConfig, side: Side) -> str | None:
        return _missing(cfg.nic(self.mac), side, f"NIC {self.mac}")

    def apply(self, ctx: Ctx, side: Side) -> Done:
        return _update(
            ctx,
            side,
            ctx.domain(side).interface(self.mac),
            lambda nic: nic.set_link(self.up),
            f"link of {self.mac} {'up' if self.up else 'down'}",
        )

    def check_back(self, after: GuestConfig, side: Side) -> str | None:
        nic = after.nic(self.mac)
        got = None if nic is None else (nic.link_live if side is Side.LIVE else nic.link_saved)
        return None if got is self.up else f"the link of {self.mac} did not change ({side.text})"
