"""Opening a connection with a deadline, and connect failures in one sentence each.

libvirt has no connect timeout: an ssh link to a host that accepts the TCP connection but
never answers (a firewall, a hung sshd) blocks ``virConnectOpen`` for as long as ssh waits,
forever without ``ConnectTimeout``. The open runs on a thread of its own; the caller stops
waiting at the deadline and says so, and a connection that opens later is closed.

ssh's own messages (measured through libvirt 9.0 with ``no_tty=1``, which makes libvirt
run ssh with ``BatchMode=yes``: a key or nothing, never a password prompt) are mapped to
what the admin does about them.
"""

from __future__ import annotations

import contextlib
import re
import threading
from urllib.parse import urlsplit

import libvirt

from kvmtui.backend import uri as uris
from kvmtui.backend.model import version_text

#: Seconds a connection may take to open before it is reported as timed out.
CONNECT_TIMEOUT = 20.0


class ConnectTimeout(Exception):
    """The daemon did not answer within the deadline."""


def open_connection(
    uri: str | None, *, readonly: bool, timeout: float = CONNECT_TIMEOUT
) -> libvirt.virConnect:
    """``libvirt.open`` (or ``openReadOnly``) of ``uris.connect_uri(uri)`` within
    ``timeout`` seconds; raises libvirtError as libvirt does, ConnectTimeout after it."""
    target = uris.connect_uri(uri)
    done = threading.Event()
    lock = threading.Lock()
    outcome: list[object] = []
    abandoned = False

    def run() -> None:
        try:
            result: object = libvirt.openReadOnly(target) if readonly else libvirt.open(target)
        except libvirt.libvirtError as exc:
            result = exc
        with lock:
            if abandoned and isinstance(result, libvirt.virConnect):
                with contextlib.suppress(libvirt.libvirtError):
                    result.close()
                return
            outcome.append(result)
        done.set()

    threading.Thread(target=run, name="connect", daemon=True).start()
    if not done.wait(timeout):
        with lock:
            if not outcome:
                abandoned = True
                raise ConnectTimeout
    result = outcome[0]
    if isinstance(result, libvirt.libvirtError):
        raise result
    assert isinstance(result, libvirt.virConnect)
    return result


def timeout_sentence(label: str, timeout: float = CONNECT_TIMEOUT) -> str:
    return (
        f"Cannot connect to {label}: no answer within {timeout:g} s (timeout); "
        "check that the host is up and its firewall lets you in."
    )


def _where(uri: str | None) -> str:
    parts = urlsplit(uri or "")
    host = parts.hostname or "the host"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def connect_sentence(detail: str, label: str, uri: str | None) -> str:
    """One sentence for a failed open: ssh's known failures in words, else libvirt's."""
    where = _where(uri)
    text = detail.strip()
    if "Host key verification failed" in text:
        return (
            f"Cannot connect to {label}: ssh does not know the host key of {where}; "
            f"run ssh once to {where} to check and accept it."
        )
    if "Permission denied" in text:
        return (
            f"Cannot connect to {label}: ssh has no key that {where} accepts "
            "(kvmtui never asks for a password); load one into ssh-agent or add ?keyfile=."
        )
    if "Connection refused" in text:
        return f"Cannot connect to {label}: {where} refused the connection; is its daemon up?"
    if re.search(r"Connection timed out|Operation timed out", text):
        return timeout_sentence(label)
    if "Could not resolve hostname" in text or "Name or service not known" in text:
        return f"Cannot connect to {label}: the host name of {where} is not known."
    if "No route to host" in text or "Network is unreachable" in text:
        return f"Cannot connect to {label}: no route to {where}."
    detail = text.rstrip(".")
    return f"Cannot connect to {label}: {detail}."


def probe(uri: str, label: str, *, timeout: float = CONNECT_TIMEOUT) -> tuple[bool, str]:
    """Open ``uri`` read-only, read its versions and guest count, close it: (worked,
    one sentence). For the hosts screen's test; blocks up to ``timeout`` seconds."""
    try:
        conn = open_connection(uri, readonly=True, timeout=timeout)
    except ConnectTimeout:
        return False, timeout_sentence(label, timeout)
    except libvirt.libvirtError as exc:
        return False, connect_sentence(exc.get_error_message() or str(exc), label, uri)
    try:
        lib = version_text(conn.getLibVersion())
        hv = f"{conn.getType()} {version_text(conn.getVersion())}"
        guests = conn.numOfDomains() + conn.numOfDefinedDomains()
    except libvirt.libvirtError as exc:
        return False, connect_sentence(exc.get_error_message() or str(exc), label, uri)
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()
    return True, f"{label} answers: libvirt {lib}, {hv}, {guests} guests."
