"""Guest lifecycle: what an admin does to a guest, as virsh and virt-manager name it.

Every function refuses on a read-only connection before libvirt is called, turns
libvirt's errors into :mod:`backend.errors` sentences and asks the host to re-read the
guest afterwards (events usually beat it; autostart changes have no event).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import libvirt

from kvmtui.backend import errors
from kvmtui.backend.host import Host


class ShutdownMode(StrEnum):
    """How to ask a guest to stop or restart."""

    AUTO = "auto"  # the guest agent if it answers, else ACPI
    ACPI = "acpi"
    AGENT = "agent"


_SHUTDOWN_FLAGS = {
    ShutdownMode.AUTO: libvirt.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT
    | libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN,
    ShutdownMode.ACPI: libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN,
    ShutdownMode.AGENT: libvirt.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT,
}
_REBOOT_FLAGS = {
    ShutdownMode.AUTO: libvirt.VIR_DOMAIN_REBOOT_GUEST_AGENT
    | libvirt.VIR_DOMAIN_REBOOT_ACPI_POWER_BTN,
    ShutdownMode.ACPI: libvirt.VIR_DOMAIN_REBOOT_ACPI_POWER_BTN,
    ShutdownMode.AGENT: libvirt.VIR_DOMAIN_REBOOT_GUEST_AGENT,
}

#: undefine keeps disks; it removes what would otherwise make libvirt refuse.
UNDEFINE_FLAGS = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
)


def _act(
    host: Host,
    uuid: str,
    action: str,
    call: Callable[[libvirt.virDomain], object],
    *,
    precheck: Callable[[libvirt.virDomain, str], None] | None = None,
) -> None:
    cached = host.guest(uuid)
    name = cached.name if cached else uuid
    host.require_writable(action, name)
    dom = host.domain(uuid, action)
    name = dom.name()
    try:
        if precheck is not None:
            precheck(dom, name)
        call(dom)
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action, guest=name) from exc
    finally:
        host.request_refresh(uuid)


def _refuse(host: Host, action: str, name: str, why: str) -> errors.InvalidStateError:
    return errors.invalid_state(host=host.label, action=action, guest=name, why=why)


def _must_be_active(host: Host, action: str) -> Callable[[libvirt.virDomain, str], None]:
    def check(dom: libvirt.virDomain, name: str) -> None:
        if not dom.isActive():
            raise _refuse(host, action, name, "it is not running")

    return check


class BaseInUseError(errors.InvalidStateError):
    """Linked clones depend on the guest's disks: starting it would change their base.
    ``clones`` names them; ``start(..., base_confirmed=True)`` starts it anyway."""

    def __init__(self, message: str, *, host: str, guest: str, clones: tuple[str, ...]) -> None:
        super().__init__(message, host=host, guest=guest, action="start")
        self.clones = clones


def start(host: Host, uuid: str, *, base_confirmed: bool = False) -> None:
    """Boot a shut-off guest (restores a managed save image if there is one).

    A guest whose disks are the base of linked clones (:mod:`backend.linked`) is refused
    with :class:`BaseInUseError` unless ``base_confirmed``: what it writes would change
    the disks of its clones under them.
    """

    def check(dom: libvirt.virDomain, name: str) -> None:
        if dom.isActive():
            raise _refuse(host, "start", name, "it is already running")
        if base_confirmed:
            return
        from kvmtui.backend import linked  # the domain model: off the start-up path

        clones = linked.dependants(host.connection("start"), dom)
        if clones:
            plural = "s" if len(clones) > 1 else ""
            raise BaseInUseError(
                f"Could not start guest '{name}' on {host.label}: linked clone{plural} "
                f"{', '.join(clones)} use{'' if plural else 's'} its disks as their base; "
                "what it writes would corrupt them. Start it only if they can be lost.",
                host=host.label,
                guest=name,
                clones=clones,
            )

    _act(host, uuid, "start", lambda d: d.create(), precheck=check)


def _with_flags(call: Callable[[int], object], flags: int, mode: ShutdownMode) -> None:
    """Call with the mode's flags; a driver that knows no such flags gets its own default.

    Only for AUTO and ACPI: an explicit agent request is never silently turned into ACPI.
    """
    try:
        call(flags)
    except libvirt.libvirtError as exc:
        unsupported = exc.get_error_code() in (
            libvirt.VIR_ERR_INVALID_ARG,
            libvirt.VIR_ERR_NO_SUPPORT,
        )
        if not unsupported or mode == ShutdownMode.AGENT:
            raise
        call(0)


def shutdown(host: Host, uuid: str, mode: ShutdownMode = ShutdownMode.AUTO) -> None:
    """Ask the guest OS to power off: agent first when it answers, else the ACPI button."""
    _act(
        host,
        uuid,
        "shut down",
        lambda d: _with_flags(d.shutdownFlags, _SHUTDOWN_FLAGS[mode], mode),
        precheck=_must_be_active(host, "shut down"),
    )


def reboot(host: Host, uuid: str, mode: ShutdownMode = ShutdownMode.AUTO) -> None:
    """Ask the guest OS to restart."""
    _act(
        host,
        uuid,
        "reboot",
        lambda d: _with_flags(d.reboot, _REBOOT_FLAGS[mode], mode),
        precheck=_must_be_active(host, "reboot"),
    )


def reset(host: Host, uuid: str) -> None:
    """Press the reset button: no shutdown, unsaved guest data is lost."""
    _act(host, uuid, "reset", lambda d: d.reset(0), precheck=_must_be_active(host, "reset"))


def suspend(host: Host, uuid: str) -> None:
    """Pause the guest's vCPUs (memory stays allocated)."""

    def check(dom: libvirt.virDomain, name: str) -> None:
        state = dom.state()[0]
        if state == libvirt.VIR_DOMAIN_PAUSED:
            raise _refuse(host, "pause", name, "it is already paused")
        if not dom.isActive():
            raise _refuse(host, "pause", name, "it is not running")

    _act(host, uuid, "pause", lambda d: d.suspend(), precheck=check)


def resume(host: Host, uuid: str) -> None:
    """Un-pause a paused guest, or wake one the guest OS suspended to RAM."""

    def call(dom: libvirt.virDomain) -> None:
        state = dom.state()[0]
        if state == libvirt.VIR_DOMAIN_PMSUSPENDED:
            dom.pMWakeup(0)
        elif state == libvirt.VIR_DOMAIN_PAUSED:
            dom.resume()
        else:
            raise _refuse(host, "resume", dom.name(), "it is not paused")

    _act(host, uuid, "resume", call)


def force_off(host: Host, uuid: str) -> None:
    """Pull the plug (virsh destroy): the guest stops at once, unsaved data is lost."""
    _act(
        host, uuid, "force off", lambda d: d.destroy(), precheck=_must_be_active(host, "force off")
    )


def set_autostart(host: Host, uuid: str, enabled: bool) -> None:
    """Start the guest when the host boots (persistent guests only)."""
    action = "enable autostart for" if enabled else "disable autostart for"

    def check(dom: libvirt.virDomain, name: str) -> None:
        if not dom.isPersistent():
            raise _refuse(host, action, name, "it is transient; only a defined guest autostarts")

    _act(host, uuid, action, lambda d: d.setAutostart(1 if enabled else 0), precheck=check)


def undefine(host: Host, uuid: str) -> None:
    """Remove the guest's definition; its disks stay.

    Also removes managed save images, snapshot and checkpoint metadata and NVRAM, which
    would otherwise make libvirt refuse. A running guest is refused: shut it down first
    (libvirt itself would silently leave it running as a transient guest).
    """

    def precheck(dom: libvirt.virDomain, name: str) -> None:
        if dom.isActive():
            raise _refuse(
                host, "undefine", name, "it is running; shut it down or force it off first"
            )

    def call(dom: libvirt.virDomain) -> None:
        try:
            dom.undefineFlags(UNDEFINE_FLAGS)
        except libvirt.libvirtError as exc:
            # Drivers that do not know a flag refuse them all; retry with the basic ones.
            if exc.get_error_code() not in (
                libvirt.VIR_ERR_INVALID_ARG,
                libvirt.VIR_ERR_NO_SUPPORT,
            ):
                raise
            dom.undefineFlags(
                libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
            )

    _act(host, uuid, "undefine", call, precheck=precheck)
