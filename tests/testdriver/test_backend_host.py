"""Host supervision on libvirt's test:/// driver: loading, events, disconnects, reconnects."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from conftest import NODE_XML, node_uri
from kvmtui.backend.host import Host
from kvmtui.backend.model import (
    ConnectionState,
    GuestRemoved,
    GuestsLoaded,
    GuestState,
    GuestUpdated,
    HostChange,
    StatusChanged,
)
from tests.waiting import wait_for


class Recorder:
    def __init__(self) -> None:
        self.changes: list[HostChange] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, change: HostChange) -> None:
        with self._lock:
            self.changes.append(change)
            self.threads.add(threading.current_thread().name)

    def of(self, kind: type) -> list:
        with self._lock:
            return [c for c in self.changes if isinstance(c, kind)]


def test_connect_reports_status_then_the_guest_list(test_node_uri: str) -> None:
    rec = Recorder()
    host = Host(test_node_uri, listener=rec, clock=lambda: 1000.0)
    host.start()
    try:
        loaded = wait_for(lambda: rec.of(GuestsLoaded), 10)
        assert len(loaded[0].guests) == 13
        status = host.status
        assert status.state == ConnectionState.CONNECTED
        assert status.since == 1000.0
        assert status.libvirt_version and status.libvirt_version[0].isdigit()
        assert status.hypervisor and status.hypervisor.startswith("TEST ")
        assert rec.threads == {"host:test:node"}, "listener runs on the host's own thread"
    finally:
        host.stop()


def test_a_change_made_through_libvirt_arrives_as_an_event(test_node_uri: str) -> None:
    """No request_refresh: only libvirt's lifecycle event can tell the host."""
    rec = Recorder()
    host = Host(test_node_uri, listener=rec)
    host.start()
    try:
        assert host.wait_connected(10)
        dom = host.connection().lookupByName("ci-worker-old")
        dom.create()
        updated = wait_for(
            lambda: [c for c in rec.of(GuestUpdated) if c.guest.name == "ci-worker-old"], 5
        )
        assert updated[-1].guest.state == GuestState.RUNNING
        dom.destroy()
        dom.undefine()
        removed = wait_for(lambda: rec.of(GuestRemoved), 5)
        assert removed[-1].uuid == dom.UUIDString()
        assert host.guest(dom.UUIDString()) is None
    finally:
        host.stop()


def test_unreachable_host_says_since_when_and_retries(tmp_path: Path) -> None:
    missing = tmp_path / "later.xml"
    rec = Recorder()
    clock = iter(float(i) for i in range(100, 10_000))
    host = Host(node_uri(missing), listener=rec, clock=lambda: next(clock), retry_delays=(0.05,))
    host.start()
    try:
        wait_for(lambda: host.status.state == ConnectionState.DISCONNECTED, 5)
        first = host.status
        assert first.error and first.error.startswith("Cannot connect to test:later")
        wait_for(lambda: host.status.next_retry is not None, 5)
        # Several failed attempts later, 'since' still names the first failure.
        wait_for(lambda: len(rec.of(StatusChanged)) > 3, 5)
        assert host.status.since == first.since
        # The node appears: the host connects by itself and loads its guests.
        shutil.copy(NODE_XML, missing)
        assert host.wait_connected(5), host.status.error
        assert host.status.error is None
        assert len(host.guests()) == 13
    finally:
        host.stop()


def test_reconnect_now_skips_the_back_off(tmp_path: Path) -> None:
    missing = tmp_path / "soon.xml"
    host = Host(node_uri(missing), retry_delays=(3600.0,))
    host.start()
    try:
        wait_for(lambda: host.status.next_retry is not None, 5)
        shutil.copy(NODE_XML, missing)
        host.reconnect_now()
        assert host.wait_connected(5), "reconnect_now did not cut the hour-long back-off"
    finally:
        host.stop()


def test_read_only_host_connects_read_only(test_node_uri: str) -> None:
    host = Host(test_node_uri, readonly=True)
    host.start()
    try:
        assert host.wait_connected(10)
        assert host.status.readonly
        assert host.connection().isAlive()
    finally:
        host.stop()


def test_two_hosts_are_independent(tmp_path: Path, test_node_uri: str) -> None:
    """A host that cannot connect does not hold up another one."""
    dead = Host(node_uri(tmp_path / "never.xml"), retry_delays=(0.05,))
    live = Host(test_node_uri)
    dead.start()
    live.start()
    try:
        assert live.wait_connected(5)
        assert len(live.guests()) == 13
        # The dead host's attempt runs on its own thread: it ends disconnected, whenever.
        wait_for(lambda: dead.status.state == ConnectionState.DISCONNECTED, 5, what="dead host")
        assert live.status.state == ConnectionState.CONNECTED
    finally:
        dead.stop()
        live.stop()
