"""The configuration editor's transaction: plan a list of changes for a scope, refuse
what cannot be done before libvirt is called, apply them one side at a time (the running
guest first), and read the guest back.

If one step fails, the steps already applied are undone in reverse order; what cannot be
undone (QEMU without KVM cannot unplug a vCPU it added) is listed plainly with why. A
read-only connection is refused before anything, reads included, is sent.

    plan = plan_changes(config, [SetVcpus(2), SetText("title", "web")], Scope.BOTH)
    outcome = apply_changes(host, uuid, [SetVcpus(2)], Scope.BOTH)
    outcome.text   # "Applied: vCPUs 1 -> 2 in the running guest, ...; read back."
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import libvirt

from kvmtui.backend import errors
from kvmtui.backend.config_changes import Change, Ctx, Done, Side
from kvmtui.backend.config_state import GuestConfig, read_config
from kvmtui.backend.host import Host
from kvmtui.backend.throttle import Scope

APPLY = "change the configuration of"


class ConfigRefused(errors.KvmtuiError):
    """A change cannot be made as asked; nothing was sent to libvirt."""


@dataclass(frozen=True, slots=True)
class Step:
    change: Change
    side: Side

    @property
    def text(self) -> str:
        where = f" ({self.side.text})" if self.side is not Side.NONE else ""
        return f"{self.change.label}{where}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a transaction did: applied steps, or the failure with what was undone and
    what could not be; ``after`` is the guest read back (None if that failed too)."""

    before: GuestConfig
    after: GuestConfig | None
    applied: tuple[str, ...]
    error: str | None = None
    undone: tuple[str, ...] = ()
    not_undone: tuple[str, ...] = ()
    mismatches: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def text(self) -> str:
        """One paragraph for the admin."""
        if self.error is None:
            kept = (
                " Read back: " + "; ".join(self.mismatches) + "."
                if self.mismatches
                else " Read back: as asked."
            )
            return f"Applied: {'; '.join(self.applied)}.{kept}"
        parts = [self.error]
        if self.undone:
            parts.append(f"Undone: {'; '.join(self.undone)}.")
        if self.not_undone:
            parts.append(f"Could not be undone: {'; '.join(self.not_undone)}.")
        elif not self.undone:
            parts.append("Nothing was changed.")
        else:
            parts.append("Nothing else was changed.")
        return " ".join(parts)


def scope_sides(cfg: GuestConfig, scope: Scope) -> tuple[Side, ...]:
    """The sides a scope reaches on this guest: a shut-off guest has its saved
    definition only, a transient one its running one only."""
    wanted = {Scope.LIVE: (Side.LIVE,), Scope.CONFIG: (Side.SAVED,)}.get(
        scope, (Side.LIVE, Side.SAVED)
    )
    return tuple(
        side
        for side in wanted
        if (side is Side.LIVE and cfg.active) or (side is Side.SAVED and cfg.persistent)
    )


def named_changes(cfg: GuestConfig, changes: Sequence[Change]) -> list[Change]:
    """``changes`` with each new drive's target picked as the plan picks it (the first
    free one on its bus, after the guest's and the earlier changes'): what the pending
    list shows is what the preview shows and what libvirt is given."""
    taken = set(cfg.targets)
    return [change.named(taken) for change in changes]


def plan_changes(cfg: GuestConfig, changes: Sequence[Change], scope: Scope) -> tuple[Step, ...]:
    """The steps, in order: each change's sides, running guest first. Raises
    :class:`ConfigRefused` with one sentence for the first change that cannot be made."""

    def refuse(label: str, why: str) -> ConfigRefused:
        return ConfigRefused(
            f"Could not {APPLY} guest '{cfg.name}' on {cfg.host}: {label}: {why}. "
            "Nothing was changed.",
            host=cfg.host,
            guest=cfg.name,
            action=APPLY,
        )

    if not changes:
        raise refuse("changes", "there is nothing to apply")
    reach = scope_sides(cfg, scope)
    if not reach:
        why = "the guest is not running; only its saved configuration can change"
        if not cfg.persistent:
            why = "the guest is transient; only the running guest can change"
        raise refuse("scope", why)
    macs: set[str] = set()
    steps: list[Step] = []
    for asked in named_changes(cfg, changes):
        for change in asked.expand(cfg, macs):
            if change.sides == frozenset({Side.NONE}):
                sides: tuple[Side, ...] = (Side.NONE,)
            else:
                sides = tuple(side for side in reach if side in change.sides)
            if not sides:
                only = (
                    "the saved configuration" if Side.SAVED in change.sides else "a running guest"
                )
                raise refuse(change.label, f"this changes only in {only}; choose another scope")
            for side in sides:
                reason = change.refuse(cfg, side)
                if reason:
                    where = f" ({side.text})" if side is not Side.NONE else ""
                    raise refuse(f"{change.label}{where}", reason)
                steps.append(Step(change, side))
    return tuple(steps)


def _failure(cfg: GuestConfig, step: Step, exc: Exception) -> str:
    if isinstance(exc, libvirt.libvirtError):
        reason = errors.from_libvirt(exc, host=cfg.host, action=APPLY, guest=cfg.name).detail
    else:
        reason = str(exc).rstrip(".")
    reason = "; ".join(line.strip() for line in (reason or "").splitlines() if line.strip())
    return f"Could not {APPLY} guest '{cfg.name}' on {cfg.host}: {step.text}: {reason}."


def _roll_back(done: list[tuple[Step, Done]]) -> tuple[list[str], list[str]]:
    undone: list[str] = []
    kept: list[str] = []
    for _step, applied in reversed(done):
        if applied.undo is None:
            kept.append(f"{applied.what} ({applied.why_not or 'no way back'})")
            continue
        try:
            applied.undo()
        except (libvirt.libvirtError, errors.KvmtuiError) as exc:
            reason = exc.get_error_message() if isinstance(exc, libvirt.libvirtError) else exc
            kept.append(f"{applied.what} ({str(reason).rstrip('.')})")
        else:
            undone.append(applied.what)
    return undone, kept


def apply_changes(host: Host, uuid: str, changes: Sequence[Change], scope: Scope) -> Outcome:
    """Apply ``changes`` to the guest as one transaction and read it back. Blocking.

    Raises :class:`errors.ReadOnlyError` on a read-only connection and
    :class:`ConfigRefused` for a change that cannot be made (both before libvirt is
    called), or another :class:`errors.KvmtuiError` when the guest cannot be read. A
    failure while applying comes back in the :class:`Outcome`.
    """
    cached = host.guest(uuid)
    host.require_writable(APPLY, cached.name if cached else uuid)
    before = read_config(host, uuid)
    steps = plan_changes(before, changes, scope)
    ctx = Ctx(host, host.domain(uuid, APPLY), before)
    done: list[tuple[Step, Done]] = []
    error: str | None = None
    for step in steps:
        try:
            done.append((step, step.change.apply(ctx, step.side)))
        except (libvirt.libvirtError, errors.KvmtuiError, ValueError) as exc:
            error = _failure(before, step, exc)
            break
    undone, kept = _roll_back(done) if error else ([], [])
    try:
        after: GuestConfig | None = read_config(host, uuid)
    except errors.KvmtuiError:
        after = None
    mismatches: list[str] = []
    if error is None and after is not None:
        for step in steps:
            mismatch = step.change.check_back(after, step.side)
            if mismatch:
                mismatches.append(mismatch)
    host.request_refresh(uuid)  # the list re-reads it (and its pending changes)
    return Outcome(
        before=before,
        after=after,
        applied=tuple(d.what for _, d in done) if error is None else (),
        error=error,
        undone=tuple(undone),
        not_undone=tuple(kept),
        mismatches=tuple(mismatches),
    )
