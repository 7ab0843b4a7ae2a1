"""What the guest agent tells about a guest, as plain values, and how to read its answers.

The agent's raw answers (libvirt's ``guestInfo`` flat dict, ``interfaceAddresses``,
``guestVcpus``, ``getTime``, and the agent's own ``guest-info`` and
``guest-fsfreeze-status``) are kept together in :class:`AgentAnswers`, which can be
saved as JSON and replayed; :func:`panel_from_answers` turns them into an
:class:`AgentPanel`. No libvirt calls here: see :mod:`backend.agent` for those.
"""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from kvmtui.backend.domain import AGENT_CHANNEL_NAME, Domain

#: What ``virsh edit`` (or ``virsh attach-device --config``) needs to give a guest an agent
#: channel; libvirt fills in the socket path. Takes effect at the next boot.
CHANNEL_XML = f"""<channel type='unix'>
  <target type='virtio' name='{AGENT_CHANNEL_NAME}'/>
</channel>"""


class AgentState(StrEnum):
    """Whether kvmtui can talk to the guest's agent right now."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    NO_CHANNEL = "no channel configured"
    NOT_RUNNING = "guest not running"
    UNKNOWN = "unknown"  # a channel, but libvirt did not say whether qemu-ga is on it


def channel_state(domain_xml: str, running: bool) -> AgentState:
    """The agent's state from the live domain XML (``<target ... state='connected'/>``)."""
    channel = Domain.from_xml(domain_xml).agent_channel
    if channel is None:
        return AgentState.NO_CHANNEL
    if not running:
        return AgentState.NOT_RUNNING
    match channel.target_state:
        case "connected":
            return AgentState.CONNECTED
        case "disconnected":
            return AgentState.DISCONNECTED
    return AgentState.UNKNOWN


@dataclass(frozen=True, slots=True)
class OsInfo:
    name: str | None
    pretty_name: str | None
    version: str | None
    version_id: str | None
    kernel_release: str | None
    kernel_version: str | None
    machine: str | None

    @property
    def title(self) -> str:
        """``Debian GNU/Linux 12 (bookworm)``: the pretty name, else name and version."""
        if self.pretty_name:
            return self.pretty_name
        parts = [p for p in (self.name, self.version or self.version_id) if p]
        return " ".join(parts) or "-"


@dataclass(frozen=True, slots=True)
class GuestClock:
    """The guest's clock read once, with the host's clock at the same moment."""

    guest_epoch: float
    host_epoch: float
    zone: str | None
    offset_s: int | None  # east of UTC

    @property
    def drift_s(self) -> float:
        """Seconds the guest is ahead of the host (negative: behind)."""
        return self.guest_epoch - self.host_epoch


@dataclass(frozen=True, slots=True)
class GuestUser:
    name: str
    domain: str | None
    login_epoch: float | None


@dataclass(frozen=True, slots=True)
class Filesystem:
    mountpoint: str
    device: str
    fstype: str
    used_bytes: int | None
    total_bytes: int | None
    disks: tuple[str, ...]  # guest device paths (/dev/vda) or host aliases (vda)


@dataclass(frozen=True, slots=True)
class GuestDisk:
    name: str  # /dev/vda, /dev/vda1
    partition: bool
    alias: str | None  # the disk's target on the host side (vda)
    serial: str | None
    dependencies: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IpAddress:
    family: str  # ipv4, ipv6
    address: str
    prefix: int | None

    @property
    def text(self) -> str:
        return f"{self.address}/{self.prefix}" if self.prefix is not None else self.address


@dataclass(frozen=True, slots=True)
class GuestInterface:
    name: str
    mac: str | None
    addresses: tuple[IpAddress, ...]


@dataclass(frozen=True, slots=True)
class VcpuInfo:
    ids: tuple[int, ...]
    online: tuple[int, ...]
    offlinable: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AgentCapabilities:
    """The agent's version and its commands, from ``guest-info``."""

    version: str
    commands: tuple[tuple[str, bool], ...]  # (name, enabled), in the agent's order

    def supports(self, command: str) -> bool:
        return any(name == command and enabled for name, enabled in self.commands)

    def why_not(self, command: str) -> str | None:
        """None when the command can be used, else the reason in a few words."""
        for name, enabled in self.commands:
            if name == command:
                return None if enabled else f"{command} is disabled in this agent"
        return f"qemu-ga {self.version} has no {command}"

    @property
    def enabled_count(self) -> int:
        return sum(1 for _, enabled in self.commands if enabled)


@dataclass(frozen=True, slots=True)
class AgentPanel:
    """Everything the agent panel shows; a section is None when it could not be read."""

    capabilities: AgentCapabilities | None
    frozen: bool | None
    os: OsInfo | None
    hostname: str | None
    clock: GuestClock | None
    users: tuple[GuestUser, ...] | None
    vcpus: VcpuInfo | None
    filesystems: tuple[Filesystem, ...] | None
    disks: tuple[GuestDisk, ...] | None
    interfaces: tuple[GuestInterface, ...] | None
    #: section name -> why it is missing (the agent refused, froze, did not answer...).
    problems: dict[str, str] = field(default_factory=dict)


@dataclass
class AgentAnswers:
    """The agent's raw answers for one panel read; JSON-safe, so it can be recorded.

    ``host_epoch`` is the host's clock at the moment the guest's time was read.
    ``errors`` maps an answer's name to the sentence explaining why it is missing.
    """

    capabilities: dict[str, Any] | None = None  # guest-info's "return"
    freeze_status: str | None = None  # "thawed" or "frozen"
    guest_info: dict[str, Any] | None = None  # dom.guestInfo(0, 0)
    interfaces: dict[str, Any] | None = None  # dom.interfaceAddresses(SRC_AGENT)
    vcpus: dict[str, str] | None = None  # dom.guestVcpus()
    time: dict[str, int] | None = None  # dom.getTime()
    host_epoch: float | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgentAnswers:
        return cls(**data)


# -- reading the answers ------------------------------------------------------------------


def _str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _int(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


def parse_cpu_list(text: str) -> tuple[int, ...]:
    """libvirt's CPU bitmap text (``0-3,5``) as a tuple of ids."""
    ids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        first, _, last = part.partition("-")
        ids.extend(range(int(first), int(last or first) + 1))
    return tuple(ids)


def parse_capabilities(answer: dict[str, Any]) -> AgentCapabilities:
    commands = tuple(
        (str(c["name"]), bool(c.get("enabled", False)))
        for c in answer.get("supported_commands", ())
    )
    return AgentCapabilities(str(answer.get("version", "?")), commands)


def parse_os(info: dict[str, Any]) -> OsInfo | None:
    if not any(key.startswith("os.") for key in info):
        return None
    return OsInfo(
        name=_str(info.get("os.name")),
        pretty_name=_str(info.get("os.pretty-name")),
        version=_str(info.get("os.version")),
        version_id=_str(info.get("os.version-id")),
        kernel_release=_str(info.get("os.kernel-release")),
        kernel_version=_str(info.get("os.kernel-version")),
        machine=_str(info.get("os.machine")),
    )


def parse_users(info: dict[str, Any]) -> tuple[GuestUser, ...] | None:
    if "user.count" not in info:
        return None
    users = []
    for n in range(int(info["user.count"])):
        login_ms = _int(info.get(f"user.{n}.login-time"))
        users.append(
            GuestUser(
                name=str(info.get(f"user.{n}.name", "?")),
                domain=_str(info.get(f"user.{n}.domain")),
                login_epoch=login_ms / 1000 if login_ms is not None else None,
            )
        )
    return tuple(users)


def parse_filesystems(info: dict[str, Any]) -> tuple[Filesystem, ...] | None:
    if "fs.count" not in info:
        return None
    filesystems = []
    for n in range(int(info["fs.count"])):
        p = f"fs.{n}."
        disks = tuple(
            str(info.get(f"{p}disk.{m}.device") or info.get(f"{p}disk.{m}.alias") or "?")
            for m in range(int(info.get(f"{p}disk.count", 0)))
        )
        filesystems.append(
            Filesystem(
                mountpoint=str(info.get(f"{p}mountpoint", "?")),
                device=str(info.get(f"{p}name", "?")),
                fstype=str(info.get(f"{p}fstype", "?")),
                used_bytes=_int(info.get(f"{p}used-bytes")),
                total_bytes=_int(info.get(f"{p}total-bytes")),
                disks=disks,
            )
        )
    return tuple(sorted(filesystems, key=lambda f: f.mountpoint))


def parse_disks(info: dict[str, Any]) -> tuple[GuestDisk, ...] | None:
    if "disk.count" not in info:
        return None
    disks = []
    for n in range(int(info["disk.count"])):
        p = f"disk.{n}."
        disks.append(
            GuestDisk(
                name=str(info.get(f"{p}name", "?")),
                partition=bool(info.get(f"{p}partition", False)),
                alias=_str(info.get(f"{p}alias")),
                serial=_str(info.get(f"{p}serial")),
                dependencies=tuple(
                    str(info.get(f"{p}dependency.{m}.name", "?"))
                    for m in range(int(info.get(f"{p}dependency.count", 0)))
                ),
            )
        )
    return tuple(disks)


_FAMILIES = {0: "ipv4", 1: "ipv6"}


def parse_interfaces(answer: dict[str, Any]) -> tuple[GuestInterface, ...]:
    """``dom.interfaceAddresses(VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT)``, by name."""
    interfaces = []
    for name, value in sorted(answer.items()):
        addresses = tuple(
            IpAddress(
                _FAMILIES.get(int(a.get("type", -1)), "?"), str(a["addr"]), _int(a.get("prefix"))
            )
            for a in value.get("addrs") or ()
        )
        interfaces.append(GuestInterface(str(name), _str(value.get("hwaddr")), addresses))
    return tuple(interfaces)


def parse_vcpus(answer: dict[str, str]) -> VcpuInfo:
    """``dom.guestVcpus()``: CPU id lists as bitmap text."""
    return VcpuInfo(
        ids=parse_cpu_list(answer.get("vcpus", "")),
        online=parse_cpu_list(answer.get("online", "")),
        offlinable=parse_cpu_list(answer.get("offlinable", "")),
    )


def parse_clock(
    time_answer: dict[str, int], host_epoch: float, info: dict[str, Any] | None
) -> GuestClock:
    info = info or {}
    return GuestClock(
        guest_epoch=int(time_answer["seconds"]) + int(time_answer.get("nseconds", 0)) / 1e9,
        host_epoch=host_epoch,
        zone=_str(info.get("timezone.name")),
        offset_s=_int(info.get("timezone.offset")),
    )


#: guestInfo sections, the agent command behind each, and the count key libvirt omits
#: when the agent found nothing (no filesystems mounted, say).
_INFO_SECTIONS = {
    "os": ("guest-get-osinfo", None),
    "hostname": ("guest-get-host-name", None),
    "users": ("guest-get-users", "user.count"),
    "filesystems": ("guest-get-fsinfo", "fs.count"),
    "disks": ("guest-get-disks", "disk.count"),
}


def _info_section(
    info: dict[str, Any] | None,
    caps: AgentCapabilities | None,
    section: str,
    problems: dict[str, str],
) -> dict[str, Any] | None:
    """guestInfo's dict for one section, with a zero count filled in when the agent
    supports the section; None (and the reason in ``problems``) when it cannot be shown."""
    if info is None:
        return None
    command, count_key = _INFO_SECTIONS[section]
    why = caps.why_not(command) if caps is not None else None
    if why is not None:
        problems.setdefault(section, f"The agent cannot tell: {why}.")
        return None
    if count_key is not None and count_key not in info:
        return {**info, count_key: 0}
    return info


def panel_from_answers(answers: AgentAnswers) -> AgentPanel:
    """The panel's values from the raw answers; a missing answer leaves its sections None."""
    problems = dict(answers.errors)
    caps = parse_capabilities(answers.capabilities) if answers.capabilities is not None else None
    info = answers.guest_info
    if info is not None and not info and answers.freeze_status == "frozen":
        # libvirt returns nothing while the guest's filesystems are frozen.
        info = None
        problems.setdefault(
            "guest_info", "Not readable while the guest's filesystems are frozen; thaw them first."
        )
    clock = None
    if answers.time is not None and answers.host_epoch is not None:
        clock = parse_clock(answers.time, answers.host_epoch, info)
    os_info = _info_section(info, caps, "os", problems)
    host_info = _info_section(info, caps, "hostname", problems)
    users = _info_section(info, caps, "users", problems)
    filesystems = _info_section(info, caps, "filesystems", problems)
    disks = _info_section(info, caps, "disks", problems)
    return AgentPanel(
        capabilities=caps,
        frozen=(answers.freeze_status == "frozen") if answers.freeze_status is not None else None,
        os=parse_os(os_info) if os_info is not None else None,
        hostname=_str(host_info.get("hostname")) if host_info is not None else None,
        clock=clock,
        users=parse_users(users) if users is not None else None,
        vcpus=parse_vcpus(answers.vcpus) if answers.vcpus is not None else None,
        filesystems=parse_filesystems(filesystems) if filesystems is not None else None,
        disks=parse_disks(disks) if disks is not None else None,
        interfaces=parse_interfaces(answers.interfaces) if answers.interfaces is not None else None,
        problems=problems,
    )


#: What qemu-ga still accepts while the guest's filesystems are frozen.
FROZEN_ALLOWED = frozenset(
    {
        "guest-ping",
        "guest-info",
        "guest-sync",
        "guest-sync-delimited",
        "guest-fsfreeze-status",
        "guest-fsfreeze-thaw",
    }
)


def why_unusable(
    commands: tuple[str, ...], caps: AgentCapabilities | None, frozen: bool | None
) -> str | None:
    """None when an action needing ``commands`` can be used now, else the reason."""
    if caps is None:
        return "the agent's commands are not known yet"
    for command in commands:
        why = caps.why_not(command)
        if why is not None:
            return why
    if frozen and not all(c in FROZEN_ALLOWED for c in commands):
        return "the guest's filesystems are frozen; thaw them first"
    return None


# -- results of actions -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What ``guest-exec`` + ``guest-exec-status`` reported for one program.

    The output is kept as the guest wrote it, byte for byte; the agent caps each stream
    at 16 MiB, which bounds what one result holds.
    """

    argv: tuple[str, ...]
    pid: int
    finished: bool  # False: still running in the guest when the time limit passed
    exit_code: int | None
    signal: int | None
    out: bytes
    err: bytes
    truncated: bool  # the agent cut the captured output
    elapsed_s: float
    limit_s: float

    @property
    def stdout(self) -> str:
        return self.out.decode(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err.decode(errors="replace")

    @property
    def summary(self) -> str:
        if not self.finished:
            return (
                f"still running after the {self.limit_s:g} s limit (guest pid {self.pid}); "
                "the agent cannot stop it, it keeps running in the guest"
            )
        if self.signal is not None:
            return f"killed by signal {self.signal}"
        return f"exit code {self.exit_code}"


def parse_exec_status(
    argv: tuple[str, ...], pid: int, status: dict[str, Any], elapsed_s: float, limit_s: float
) -> ExecResult:
    """``guest-exec-status``'s answer (output base64-encoded) as an ExecResult.

    qemu-ga 7.2 sends the output only once the program has exited (and its pipes are
    closed): while it runs the answer is ``{"exited": false}`` and nothing more.
    """

    def decoded(key: str) -> bytes:
        data = status.get(key)
        return base64.b64decode(data) if data else b""

    return ExecResult(
        argv=argv,
        pid=pid,
        finished=bool(status.get("exited")),
        exit_code=_int(status.get("exitcode")),
        signal=_int(status.get("signal")),
        out=decoded("out-data"),
        err=decoded("err-data"),
        truncated=bool(status.get("out-truncated") or status.get("err-truncated")),
        elapsed_s=elapsed_s,
        limit_s=limit_s,
    )


@dataclass(frozen=True, slots=True)
class TrimResult:
    mountpoint: str
    trimmed_bytes: int | None
    error: str | None


def parse_fstrim(answer: dict[str, Any]) -> tuple[TrimResult, ...]:
    return tuple(
        TrimResult(str(p.get("path", "?")), _int(p.get("trimmed")), _str(p.get("error")))
        for p in answer.get("paths", ())
    )


class InvalidRequest(ValueError):
    """Raw JSON that is not a valid agent command; its text is a sentence for the admin."""


def parse_request(text: str) -> tuple[str, dict[str, Any] | None]:
    """A raw agent command typed by the admin: ``{"execute": NAME, "arguments": {...}}``.

    Checked before anything is sent: valid JSON, an object, a command name, arguments
    that are an object, no other keys.
    """
    stripped = text.strip()
    if not stripped:
        raise InvalidRequest('Type a command, e.g. {"execute": "guest-ping"}.')
    try:
        request = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"Not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); nothing was sent."
        ) from None
    if not isinstance(request, dict):
        raise InvalidRequest('The command must be a JSON object such as {"execute": "guest-ping"}.')
    command = request.get("execute")
    if not isinstance(command, str) or not command:
        raise InvalidRequest('The object needs "execute" with the command\'s name.')
    unknown = sorted(set(request) - {"execute", "arguments"})
    if unknown:
        raise InvalidRequest(
            f'Unexpected key {", ".join(map(repr, unknown))}: only "execute" and '
            '"arguments" are sent to the agent.'
        )
    arguments = request.get("arguments")
    if arguments is not None and not isinstance(arguments, dict):
        raise InvalidRequest('"arguments" must be a JSON object.')
    return command, arguments


class Secret:
    """A password on its way to the guest: its repr and str never show it (logs, workers)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__


def exec_argv(command_line: str, *, shell: str | None = None) -> tuple[str, ...]:
    """What guest-exec runs for a typed command line: split into a program and its
    arguments the way a shell would quote them (nothing is expanded: no variables,
    globs or substitutions), or, when the admin chooses a shell, ``SHELL -c LINE``.

    Splitting happens here in Python; nothing typed reaches a host shell.
    """
    line = command_line.strip()
    if not line:
        raise InvalidRequest("Type the program to run, e.g. uname -r.")
    if shell:
        return (shell, "-c", line)
    try:
        argv = tuple(shlex.split(line))
    except ValueError as exc:
        raise InvalidRequest(f"Cannot split the command line: {exc}.") from None
    if not argv:
        raise InvalidRequest("Type the program to run, e.g. uname -r.")
    return argv
