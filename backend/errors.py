"""One error family whose messages an admin can act on.

Every failure the backend raises is a :class:`KvmtuiError`; its ``str()`` is one
sentence naming what failed, on which host and guest, what libvirt said and, where
we know one, what to try.
"""

from __future__ import annotations

import libvirt


class KvmtuiError(Exception):
    """A failure with a sentence for the admin."""

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        guest: str | None = None,
        action: str | None = None,
        detail: str | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.host = host
        self.guest = guest
        self.action = action
        self.detail = detail
        self.code = code

    def __str__(self) -> str:
        return self.message


class ReadOnlyError(KvmtuiError):
    """A change was asked of a read-only connection; nothing was sent to libvirt."""


class NotConnectedError(KvmtuiError):
    """The host is not connected right now."""


class GuestNotFoundError(KvmtuiError):
    """The guest does not exist (any more) on that host."""


class InvalidStateError(KvmtuiError):
    """The guest is not in a state that allows the action (already running, not running...)."""


class OperationError(KvmtuiError):
    """libvirt refused or failed the operation for another reason."""


def _target(action: str, guest: str | None, host: str) -> str:
    if guest:
        return f"Could not {action} guest '{guest}' on {host}"
    return f"Could not {action} on {host}"


def _clean(message: str) -> str:
    """libvirt's text without a trailing full stop, first letter kept as libvirt wrote it."""
    return message.strip().rstrip(".")


_HINTS: dict[int, str] = {
    libvirt.VIR_ERR_NO_DOMAIN: "The guest no longer exists; it may have been undefined elsewhere.",
    libvirt.VIR_ERR_OPERATION_DENIED: (
        "The connection does not allow this (read-only or not permitted)."
    ),
    libvirt.VIR_ERR_AUTH_FAILED: "Check the credentials or key for this host.",
    libvirt.VIR_ERR_AUTH_CANCELLED: "Check the credentials or key for this host.",
    libvirt.VIR_ERR_NO_CONNECT: "Is libvirtd running and reachable?",
    libvirt.VIR_ERR_SYSTEM_ERROR: "Is libvirtd running and reachable?",
    libvirt.VIR_ERR_RPC: "The link to the host failed; kvmtui reconnects by itself.",
    libvirt.VIR_ERR_AGENT_UNRESPONSIVE: "The guest agent does not answer; try an ACPI shutdown.",
    libvirt.VIR_ERR_OPERATION_TIMEOUT: "The hypervisor did not answer in time; try again.",
    libvirt.VIR_ERR_NO_SUPPORT: "This hypervisor or libvirt version does not support it.",
}

_STATE_CODES = {libvirt.VIR_ERR_OPERATION_INVALID}


def from_libvirt(
    exc: libvirt.libvirtError,
    *,
    host: str,
    action: str,
    guest: str | None = None,
) -> KvmtuiError:
    """Translate a libvirt error into a KvmtuiError with a sentence an admin understands."""
    code = exc.get_error_code()
    detail = _clean(exc.get_error_message() or str(exc) or "unknown libvirt error")
    sentence = f"{_target(action, guest, host)}: {detail}."
    hint = _HINTS.get(code or -1)
    if hint:
        sentence = f"{sentence} {hint}"
    cls: type[KvmtuiError]
    if code == libvirt.VIR_ERR_NO_DOMAIN:
        cls = GuestNotFoundError
    elif code in _STATE_CODES:
        cls = InvalidStateError
    elif code in (libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_RPC):
        cls = NotConnectedError
    else:
        cls = OperationError
    return cls(sentence, host=host, guest=guest, action=action, detail=detail, code=code)


def read_only(*, host: str, action: str, guest: str | None = None) -> ReadOnlyError:
    return ReadOnlyError(
        f"{_target(action, guest, host)}: the connection is read-only. "
        "Start kvmtui without -r/--readonly to make changes.",
        host=host,
        guest=guest,
        action=action,
    )


def invalid_state(*, host: str, action: str, guest: str, why: str) -> InvalidStateError:
    """The guest is not in a state for ``action``; ``why`` says what is in the way."""
    return InvalidStateError(
        f"{_target(action, guest, host)}: {why}.", host=host, guest=guest, action=action
    )


def not_connected(*, host: str, action: str, guest: str | None = None) -> NotConnectedError:
    return NotConnectedError(
        f"{_target(action, guest, host)}: the host is not connected. "
        "kvmtui keeps retrying; try again once it is back.",
        host=host,
        guest=guest,
        action=action,
    )
