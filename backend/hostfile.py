"""Saved connections: ``$XDG_CONFIG_HOME/kvmtui/hosts.toml`` (``~/.config/kvmtui`` without
the variable).

One ``[[host]]`` table per saved host::

    [[host]]
    name = "kvm1"
    uri = "qemu+ssh://admin@kvm1/system"
    readonly = false
    autoconnect = true

Read with the standard library's tomllib, written with tomli-w (tomllib only reads).
A write goes to a temporary file in the same folder, mode 0600, then is renamed over the
old file: a crash leaves the old file or the new one, never half of one. A file that
does not parse is reported with its line and never written over, so a hand edit with a
typo loses nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FILE_MODE = 0o600
#: What a name may hold: it labels the host column and is typed after ``-c NAME=``.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,39}")
#: libvirt's hypervisor drivers kvmtui is meant for, and its remote transports.
_DRIVERS = ("qemu", "test", "lxc", "xen", "bhyve", "ch", "vz")
_TRANSPORTS = ("ssh", "libssh", "libssh2", "tcp", "tls", "unix", "ext")
_REMOTE_ONLY = ("ssh", "libssh", "libssh2", "tcp", "tls")


class HostFileError(Exception):
    """The hosts file cannot be read or written; the message is one sentence."""


@dataclass(frozen=True, slots=True)
class SavedHost:
    """One saved connection."""

    name: str
    uri: str
    readonly: bool = False
    autoconnect: bool = False

    def target(self) -> str:
        """What ``-c`` would take for it: ``NAME=URI``."""
        return f"{self.name}={self.uri}"


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"
    return root / "kvmtui"


def default_path() -> Path:
    return config_dir() / "hosts.toml"


# -- validation (also used as the admin types) -------------------------------------------


def uri_problem(uri: str) -> str | None:
    """Why ``uri`` is not a libvirt URI kvmtui can open, in one sentence; None if it is."""
    uri = uri.strip()
    if not uri:
        return "Type a libvirt URI, such as qemu:///system or qemu+ssh://root@host/system."
    if any(ch.isspace() for ch in uri):
        return "A URI has no spaces."
    if "://" not in uri:
        return f"'{uri}' is not a URI: it needs DRIVER://, as in qemu:///system."
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return "The port must be a number from 1 to 65535."
    driver, _, transport = parts.scheme.partition("+")
    if driver not in _DRIVERS:
        known = ", ".join(_DRIVERS)
        return f"'{driver}' is not a libvirt driver kvmtui knows ({known})."
    if transport and transport not in _TRANSPORTS:
        return f"'{transport}' is not a libvirt transport (ssh, libssh, tcp, tls, unix, ext)."
    if port is not None and not 1 <= port <= 65535:
        return "The port must be a number from 1 to 65535."
    if transport in _REMOTE_ONLY and not parts.hostname:
        return f"A {parts.scheme} URI needs a host name, as in {parts.scheme}://host/system."
    path = parts.path.rstrip("/")
    if driver == "qemu" and path not in ("/system", "/session", "/embed"):
        return "A qemu URI ends in /system or /session, as in qemu:///system."
    if driver == "test" and not path:
        return "A test URI names a node file or 'default', as in test:///default."
    for key, _value in parse_qsl(parts.query, keep_blank_values=True):
        if not re.fullmatch(r"[a-z_]+", key):
            return f"'{key}' is not a libvirt URI parameter."
    return None


def name_problem(name: str, others: Sequence[str] = ()) -> str | None:
    """Why ``name`` cannot name a saved host, in one sentence; None if it can."""
    if not name:
        return "Give the host a name (letters, digits, '.', '_', '-', '@')."
    if not _NAME.fullmatch(name):
        return (
            "A name is up to 40 letters, digits, '.', '_', '-' or '@', "
            "starting with a letter or digit."
        )
    if name in others:
        return f"A saved host is already named '{name}'."
    return None


# -- the file ----------------------------------------------------------------------------


def _entry(raw: Any, index: int, path: Path) -> SavedHost:
    where = f"{path}: host {index + 1}"
    if not isinstance(raw, dict):
        raise HostFileError(f"{where} is not a table; see docs/hosts.md.")
    name, uri = raw.get("name"), raw.get("uri")
    if not isinstance(name, str) or not isinstance(uri, str):
        raise HostFileError(f"{where} needs a name and a uri, both strings.")
    for key in ("readonly", "autoconnect"):
        if not isinstance(raw.get(key, False), bool):
            raise HostFileError(f"{where} ({name}): {key} must be true or false.")
    problem = uri_problem(uri) or name_problem(name)
    if problem:
        raise HostFileError(f"{where} ({name}): {problem}")
    return SavedHost(
        name=name,
        uri=uri,
        readonly=raw.get("readonly", False),
        autoconnect=raw.get("autoconnect", False),
    )


def load(path: Path | None = None) -> list[SavedHost]:
    """The saved hosts, in file order; none when the file does not exist.

    Raises :class:`HostFileError` naming the file and the line of a syntax error, or the
    entry that is wrong."""
    path = path or default_path()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise HostFileError(f"Cannot read {path}: {exc.strerror}.") from None
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise HostFileError(f"{path} is not UTF-8 text; kvmtui leaves it as it is.") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends "(at line L, column C)"; the line is what matters.
        line = re.search(r"line (\d+)", str(exc))
        at = f" at line {line.group(1)}" if line else ""
        why = re.sub(r"\s*\(at .*\)$", "", str(exc))
        raise HostFileError(
            f"{path} is broken{at} ({why}); kvmtui will not write over it until it is fixed."
        ) from None
    hosts_raw = doc.get("host", [])
    if not isinstance(hosts_raw, list):
        raise HostFileError(f"{path}: 'host' must be an array of tables ([[host]]).")
    hosts = [_entry(raw, i, path) for i, raw in enumerate(hosts_raw)]
    names = [h.name for h in hosts]
    for name in names:
        if names.count(name) > 1:
            raise HostFileError(f"{path}: two hosts are named '{name}'.")
    return hosts


def save(hosts: Sequence[SavedHost], path: Path | None = None) -> None:
    """Write ``hosts`` atomically, mode 0600.

    A file that exists but does not load is not written over (:class:`HostFileError`)."""
    path = path or default_path()
    if path.exists():
        load(path)  # raises on a broken file: the admin's text is never lost
    import tomli_w  # only when writing: start-up reads the file and nothing more

    # One [[host]] table each (tomli-w would write short ones inline, harder to edit by
    # hand); tomli-w quotes and escapes the values.
    text = "# kvmtui's saved connections (docs/hosts.md); edited by the hosts screen, ctrl+o.\n"
    for h in hosts:
        entry = {"name": h.name, "uri": h.uri, "readonly": h.readonly}
        entry["autoconnect"] = h.autoconnect
        text += "\n[[host]]\n" + tomli_w.dumps(entry)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".hosts.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise HostFileError(f"Cannot write {path}: {exc.strerror}.") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:  # mkstemp makes it 0600
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise HostFileError(f"Cannot write {path}: {exc.strerror}.") from None


def autoconnect_targets(hosts: Sequence[SavedHost]) -> list[SavedHost]:
    """The saved hosts opened when kvmtui starts without ``-c``."""
    return [h for h in hosts if h.autoconnect]
