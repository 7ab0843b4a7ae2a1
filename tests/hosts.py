"""A started backend Host for a test, stopped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kvmtui.backend.host import Host


@contextmanager
def started_host(uri: str, *, readonly: bool = False, timeout: float = 30.0) -> Iterator[Host]:
    """Host(uri) connected (the test fails with the host's error if it does not connect)."""
    host = Host(uri, readonly=readonly)
    host.start()
    try:
        assert host.wait_connected(timeout), host.status.error
        yield host
    finally:
        host.stop()
