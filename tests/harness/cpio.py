"""A deterministic gzip'd newc cpio archive, the format the kernel unpacks as initramfs.

Written in Python so no root is needed for device nodes and the bytes depend only on
the inputs (mtime 0, uid/gid 0).
"""

from __future__ import annotations

import gzip
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    """One archive member; `path` is relative to the archive root, without a leading /."""

    path: str
    mode: int  # full st_mode: type bits and permissions
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def directory(path: str, perm: int = 0o755) -> Entry:
    return Entry(path, stat.S_IFDIR | perm)


def file(path: str, data: bytes, perm: int = 0o644) -> Entry:
    return Entry(path, stat.S_IFREG | perm, data)


def symlink(path: str, target: str) -> Entry:
    return Entry(path, stat.S_IFLNK | 0o777, target.encode())


def char_device(path: str, major: int, minor: int, perm: int = 0o600) -> Entry:
    return Entry(path, stat.S_IFCHR | perm, rdev=(major, minor))


def _pad4(length: int) -> bytes:
    return b"\0" * (-length % 4)


def _member(ino: int, entry: Entry) -> bytes:
    name = entry.path.encode() + b"\0"
    nlink = 2 if stat.S_ISDIR(entry.mode) else 1
    fields = (
        ino,
        entry.mode,
        0,
        0,
        nlink,
        0,
        len(entry.data),
        0,
        0,
        entry.rdev[0],
        entry.rdev[1],
        len(name),
        0,
    )
    header = b"070701" + b"".join(b"%08X" % value for value in fields)
    return header + name + _pad4(len(header) + len(name)) + entry.data + _pad4(len(entry.data))


def write_archive(entries: list[Entry], destination: Path) -> None:
    """Write ENTRIES (parents first, in order given, with missing parents added)."""
    seen: set[str] = set()
    ordered: list[Entry] = []
    for entry in entries:
        parts = entry.path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent not in seen:
                seen.add(parent)
                ordered.append(directory(parent))
        if entry.path in seen:
            continue
        seen.add(entry.path)
        ordered.append(entry)
    with gzip.GzipFile(destination, "wb", compresslevel=6, mtime=0) as archive:
        for ino, entry in enumerate(ordered, start=1):
            archive.write(_member(ino, entry))
        archive.write(_member(0, Entry("TRAILER!!!", 0)))
