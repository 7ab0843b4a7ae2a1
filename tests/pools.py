"""Directory pools on the real daemon for storage tests: named kvmtui-test-pool-*, in a
folder of the test's own, stopped and undefined (volumes deleted) whatever happens."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import libvirt


@contextlib.contextmanager
def dir_pool(uri: str, parent: Path) -> Iterator[tuple[str, Path]]:
    """A running dir pool whose target is a new folder under ``parent``: (name, target)."""
    name = f"kvmtui-test-pool-{uuid.uuid4().hex[:8]}"
    target = parent / name
    target.mkdir()
    target.chmod(0o755)
    conn = libvirt.open(uri)
    pool = conn.storagePoolDefineXML(
        f"<pool type='dir'><name>{name}</name><target><path>{target}</path></target></pool>", 0
    )
    try:
        pool.create(0)
        yield name, target
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            for vol in pool.listAllVolumes(0):
                vol.delete(0)
        with contextlib.suppress(libvirt.libvirtError):
            pool.destroy()
        with contextlib.suppress(libvirt.libvirtError):
            pool.undefine()
        conn.close()
