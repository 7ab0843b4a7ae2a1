"""The balloon driver's statistics period: how often a guest reports its memory in use.

Monitoring never sets it (virt-manager does so silently; kvmtui does not). This is the
admin's own action, as ``virsh dommemstat --period N --live --config`` is. A period of
0 stops the reports; the guest keeps its memory either way.

Refusals, each a sentence and nothing sent: a read-only connection, a period that is not
a whole number of seconds from 0 to :data:`MAX_PERIOD_S`, a guest without a balloon
device (none in its XML, or ``model='none'``), a change to the running guest of a guest
that is not running. libvirt's own refusals come back through :mod:`backend.errors`.
"""

from __future__ import annotations

import libvirt

from kvmtui.backend import errors
from kvmtui.backend.domain.layout import Balloon, balloon_of, parse_for
from kvmtui.backend.host import Host
from kvmtui.backend.stats import BALLOON_STALE_S
from kvmtui.backend.throttle import Scope

#: The longest period kvmtui sets: half the age at which the statistics count a report
#: as stale, so a guest that reports on time is never shown as unknown.
MAX_PERIOD_S = int(BALLOON_STALE_S // 2)

__all__ = ["MAX_PERIOD_S", "Balloon", "balloon_of", "parse_period", "set_stats_period"]


def parse_period(text: str) -> int:
    """Seconds from a form; ValueError with a sentence for anything else."""
    value = text.strip()
    if not value:
        raise ValueError("Type a number of seconds (0 stops the reports).")
    if not value.isdigit():
        raise ValueError(f"'{value}' is not a whole number of seconds from 0 to {MAX_PERIOD_S}.")
    seconds = int(value)
    if seconds > MAX_PERIOD_S:
        raise ValueError(
            f"{seconds} s is more than {MAX_PERIOD_S} s: a report older than "
            f"{BALLOON_STALE_S:.0f} s counts as unknown."
        )
    return seconds


def _balloon(dom: libvirt.virDomain, flag: int, *, host: str, guest: str, action: str) -> Balloon:
    inactive = libvirt.VIR_DOMAIN_XML_INACTIVE if flag == libvirt.VIR_DOMAIN_AFFECT_CONFIG else 0
    return balloon_of(parse_for(dom.XMLDesc(inactive), host=host, guest=guest, action=action))


def set_stats_period(host: Host, uuid: str, seconds: int, scope: Scope) -> None:
    """Ask the guest's balloon driver to report every ``seconds`` (0: stop). Blocking.

    Raises :class:`backend.errors.KvmtuiError` (nothing changed when it is raised before
    the first libvirt call; a live change that succeeded stays if the saved
    configuration then refuses, as with virsh).
    """
    cached = host.guest(uuid)
    name = cached.name if cached else uuid
    action = "set the memory statistics period of"
    host.require_writable(action, name)
    if not 0 <= seconds <= MAX_PERIOD_S:
        raise errors.KvmtuiError(
            f"Could not {action} guest '{name}' on {host.label}: {seconds} s is not from 0 "
            f"to {MAX_PERIOD_S} s. Nothing was changed.",
            host=host.label,
            guest=name,
            action=action,
        )
    dom = host.domain(uuid, action)
    try:
        name = dom.name()
        if libvirt.VIR_DOMAIN_AFFECT_LIVE in scope.flags and not dom.isActive():
            raise errors.invalid_state(
                host=host.label,
                action=action,
                guest=name,
                why="it is not running, so only its saved configuration can change",
            )
        for flag in scope.flags:
            if not _balloon(dom, flag, host=host.label, guest=name, action=action).present:
                where = (
                    "running guest"
                    if flag == libvirt.VIR_DOMAIN_AFFECT_LIVE
                    else "saved configuration"
                )
                raise errors.invalid_state(
                    host=host.label,
                    action=action,
                    guest=name,
                    why=f"its {where} has no balloon device",
                )
        for flag in scope.flags:
            dom.setMemoryStatsPeriod(seconds, flag)
    except libvirt.libvirtError as exc:
        raise errors.from_libvirt(exc, host=host.label, action=action, guest=name) from exc
