"""Host URIs: the label shown for a URI, and what the connection actually opens."""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def split_label(arg: str) -> tuple[str | None, str]:
    """``NAME=URI`` gives a host its own label; a plain URI has none."""
    name, sep, rest = arg.partition("=")
    if sep and name and not any(ch in name for ch in ":/?&") and "://" in rest:
        return name, rest
    return None, arg


def default_uri() -> str | None:
    """``LIBVIRT_DEFAULT_URI`` if set, else None: libvirt then picks its own default."""
    return os.environ.get("LIBVIRT_DEFAULT_URI") or None


def is_remote(uri: str | None) -> bool:
    if not uri:
        return False
    parts = urlsplit(uri)
    return bool(parts.hostname) or "+" in parts.scheme


def label_for(uri: str | None) -> str:
    """A short, stable name for the host column: hostname, 'localhost', or the test node."""
    if not uri:
        return "localhost"
    parts = urlsplit(uri)
    driver = parts.scheme.split("+", 1)[0]
    if parts.hostname:
        label = parts.hostname
        if parts.port:
            label = f"{label}:{parts.port}"
    elif driver == "test":
        base = os.path.basename(parts.path.rstrip("/")) or "default"
        label = f"test:{os.path.splitext(base)[0]}"
    else:
        label = "localhost"
    if parts.path.rstrip("/").endswith("session"):
        label = f"{label} (session)"
    return label


def connect_uri(uri: str | None) -> str | None:
    """The URI actually opened: over ssh, ``no_tty=1`` so ssh never prompts on our terminal.

    A password prompt would draw over the TUI and hang the connection; with no_tty ssh
    fails at once and the status line says why (use key authentication).
    """
    if not uri:
        return uri
    parts = urlsplit(uri)
    if not parts.scheme.endswith("+ssh"):
        return uri
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if "no_tty" in query:
        return uri
    query["no_tty"] = "1"
    return urlunsplit(parts._replace(query=urlencode(query)))


def unique_labels(labels: list[str]) -> list[str]:
    """Suffix repeated labels with (2), (3)... so every host is told apart."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out
