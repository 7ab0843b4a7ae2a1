"""The console backend without a daemon: refusals, the log file, wording."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmtui.backend.console import CloseReason, ConsoleLog, ConsoleSession, can_open, describe
from kvmtui.backend.errors import ReadOnlyError
from kvmtui.backend.host import Host


@pytest.fixture
def ro_host(test_node_uri: str) -> Iterator[Host]:
    host = Host(test_node_uri, readonly=True, label="lab")
    host.start()
    assert host.wait_connected(10), host.status.error
    yield host
    host.stop()


def test_read_only_connection_gives_the_reason_and_open_refuses_before_libvirt(
    ro_host: Host,
) -> None:
    guest = next(g for g in ro_host.guests() if g.state.active)
    reason = can_open(ro_host, guest)
    assert reason is not None and "read-only" in reason and "lab" in reason
    session = ConsoleSession(ro_host, guest.uuid, on_data=print, on_closed=print)
    with pytest.raises(ReadOnlyError, match="read-only"):
        session.open()
    assert not session.attached


def test_can_open_names_a_stopped_guest_and_a_disconnected_host(test_node_uri: str) -> None:
    host = Host(test_node_uri, label="lab")
    assert can_open(host) == "lab is not connected."
    host.start()
    try:
        assert host.wait_connected(10)
        stopped = next(g for g in host.guests() if not g.state.active)
        running = next(g for g in host.guests() if g.state.active)
        assert can_open(host, running) is None
        assert f"'{stopped.name}' is not running" in (can_open(host, stopped) or "")
    finally:
        host.stop()


def test_log_appends_flushes_and_rotates_at_its_cap(tmp_path: Path) -> None:
    path = tmp_path / "console.log"
    path.write_bytes(b"old\n")
    log = ConsoleLog(path, max_bytes=10)
    log.write(b"abc")
    assert path.read_bytes() == b"old\nabc"  # appended and flushed at once
    log.write(b"0123456")  # 7 + 7 > 10: rotate first
    assert (tmp_path / "console.log.1").read_bytes() == b"old\nabc"
    assert path.read_bytes() == b"0123456"
    log.close()
    log.write(b"after close")  # ignored, no error
    assert path.read_bytes() == b"0123456"


def test_close_reasons_say_what_happened_and_which_reattach() -> None:
    assert "took over" in describe(CloseReason.TAKEN_OVER, "web-1")
    assert "reattaches" in describe(CloseReason.GUEST_STOPPED, "web-1")
    assert CloseReason.GUEST_STOPPED.reattaches and CloseReason.HOST_DISCONNECTED.reattaches
    assert not CloseReason.TAKEN_OVER.reattaches and not CloseReason.CLOSED.reattaches
