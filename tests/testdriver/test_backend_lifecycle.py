"""Lifecycle calls and their error paths on libvirt's test:/// driver (real libvirt API)."""

from __future__ import annotations

from collections.abc import Iterator

import libvirt
import pytest

from kvmtui.backend import lifecycle
from kvmtui.backend.errors import (
    GuestNotFoundError,
    InvalidStateError,
    KvmtuiError,
    ReadOnlyError,
)
from kvmtui.backend.host import Host
from kvmtui.backend.model import GuestState
from tests.hosts import started_host
from tests.waiting import wait_for


@pytest.fixture
def host(test_node_uri: str) -> Iterator[Host]:
    with started_host(test_node_uri) as host:
        yield host


@pytest.fixture
def ro_host(test_node_uri: str) -> Iterator[Host]:
    h = Host(test_node_uri, readonly=True)
    h.start()
    assert h.wait_connected(10), h.status.error
    yield h
    h.stop()


def uuid_of(host: Host, name: str) -> str:
    return next(g.uuid for g in host.guests() if g.name == name)


def state_becomes(host: Host, uuid: str, state: GuestState) -> None:
    wait_for(lambda: (g := host.guest(uuid)) is not None and g.state == state, 5, what=state)


def test_loads_every_guest_with_its_facts(host: Host) -> None:
    guests = {g.name: g for g in host.guests()}
    assert len(guests) == 13
    db = guests["db-replica"]
    assert db.state == GuestState.PAUSED
    assert (db.vcpus, db.memory_kib, db.max_memory_kib) == (4, 4194304, 8388608)
    assert db.persistent and not db.autostart
    assert not guests["scratch-transient"].persistent
    assert guests["build-runner"].state == GuestState.SHUTOFF
    assert guests["build-runner"].domain_id is None
    assert guests["legacy-erp"].state == GuestState.CRASHED
    assert guests["win-desktop"].state == GuestState.PMSUSPENDED
    assert guests["backup-agent"].state == GuestState.SHUTDOWN
    assert guests["cache-redis"].state == GuestState.BLOCKED


def test_start_boots_a_shut_off_guest(host: Host) -> None:
    uuid = uuid_of(host, "build-runner")
    lifecycle.start(host, uuid)
    state_becomes(host, uuid, GuestState.RUNNING)
    assert host.guest(uuid).reason == "booted"  # type: ignore[union-attr]


def test_start_of_a_running_guest_is_refused(host: Host) -> None:
    with pytest.raises(InvalidStateError, match="'web-frontend-1' on test:node: it is already"):
        lifecycle.start(host, uuid_of(host, "web-frontend-1"))


def test_shutdown_stops_a_running_guest(host: Host) -> None:
    uuid = uuid_of(host, "monitoring")
    lifecycle.shutdown(host, uuid, lifecycle.ShutdownMode.ACPI)
    state_becomes(host, uuid, GuestState.SHUTOFF)


def test_shutdown_of_a_stopped_guest_is_refused(host: Host) -> None:
    with pytest.raises(InvalidStateError, match="it is not running"):
        lifecycle.shutdown(host, uuid_of(host, "ci-worker-old"))


def test_reboot_and_reset_need_a_running_guest(host: Host) -> None:
    lifecycle.reboot(host, uuid_of(host, "web-frontend-2"), lifecycle.ShutdownMode.ACPI)
    lifecycle.reset(host, uuid_of(host, "web-frontend-2"))
    for call in (lifecycle.reboot, lifecycle.reset):
        with pytest.raises(InvalidStateError, match="not running"):
            call(host, uuid_of(host, "ci-worker-old"))


def test_suspend_then_resume(host: Host) -> None:
    uuid = uuid_of(host, "web-frontend-1")
    lifecycle.suspend(host, uuid)
    state_becomes(host, uuid, GuestState.PAUSED)
    with pytest.raises(InvalidStateError, match="already paused"):
        lifecycle.suspend(host, uuid)
    lifecycle.resume(host, uuid)
    state_becomes(host, uuid, GuestState.RUNNING)
    with pytest.raises(InvalidStateError, match="not paused"):
        lifecycle.resume(host, uuid)


def test_suspend_of_a_stopped_guest_is_refused(host: Host) -> None:
    with pytest.raises(InvalidStateError, match="not running"):
        lifecycle.suspend(host, uuid_of(host, "ci-worker-old"))


def test_force_off_destroys_at_once(host: Host) -> None:
    uuid = uuid_of(host, "db-primary")
    lifecycle.force_off(host, uuid)
    state_becomes(host, uuid, GuestState.SHUTOFF)
    assert host.guest(uuid).reason == "destroyed"  # type: ignore[union-attr]
    with pytest.raises(InvalidStateError, match="not running"):
        lifecycle.force_off(host, uuid)


def test_force_off_of_a_transient_guest_removes_it(host: Host) -> None:
    uuid = uuid_of(host, "scratch-transient")
    lifecycle.force_off(host, uuid)
    wait_for(lambda: host.guest(uuid) is None, 5, what="transient guest gone")


def test_autostart_on_and_off(host: Host) -> None:
    uuid = uuid_of(host, "db-primary")
    lifecycle.set_autostart(host, uuid, True)
    wait_for(lambda: host.guest(uuid).autostart, 5)  # type: ignore[union-attr]
    lifecycle.set_autostart(host, uuid, False)
    wait_for(lambda: not host.guest(uuid).autostart, 5)  # type: ignore[union-attr]


def test_autostart_of_a_transient_guest_fails_with_a_sentence(host: Host) -> None:
    expected = r"^Could not enable autostart for guest 'scratch-transient' on test:node: it is"
    with pytest.raises(KvmtuiError, match=expected):
        lifecycle.set_autostart(host, uuid_of(host, "scratch-transient"), True)


def test_undefine_removes_a_stopped_guest(host: Host) -> None:
    uuid = uuid_of(host, "ci-worker-old")
    lifecycle.undefine(host, uuid)
    wait_for(lambda: host.guest(uuid) is None, 5, what="undefined guest gone")
    with pytest.raises(libvirt.libvirtError):
        host.connection().lookupByUUIDString(uuid)


def test_undefine_with_a_managed_save_image(host: Host) -> None:
    uuid = uuid_of(host, "mail-relay")
    assert host.connection().lookupByUUIDString(uuid).hasManagedSaveImage(0)
    lifecycle.undefine(host, uuid)
    wait_for(lambda: host.guest(uuid) is None, 5, what="undefined guest gone")


def test_undefine_of_a_running_guest_is_refused_and_keeps_it(host: Host) -> None:
    uuid = uuid_of(host, "web-frontend-1")
    with pytest.raises(InvalidStateError, match="it is running; shut it down"):
        lifecycle.undefine(host, uuid)
    assert host.connection().lookupByUUIDString(uuid).isPersistent()


def test_unknown_guest_is_reported_by_name_of_host(host: Host) -> None:
    missing = "00000000-0000-0000-0000-0000000000ff"
    with pytest.raises(GuestNotFoundError, match="on test:node") as info:
        lifecycle.start(host, missing)
    assert "no longer exists" in str(info.value)


@pytest.mark.parametrize(
    ("call", "args"),
    [
        (lifecycle.start, ()),
        (lifecycle.shutdown, ()),
        (lifecycle.reboot, ()),
        (lifecycle.reset, ()),
        (lifecycle.suspend, ()),
        (lifecycle.resume, ()),
        (lifecycle.force_off, ()),
        (lifecycle.set_autostart, (True,)),
        (lifecycle.undefine, ()),
    ],
)
def test_read_only_refuses_every_mutator_before_libvirt(
    ro_host: Host, call: object, args: tuple[object, ...]
) -> None:
    uuid = uuid_of(ro_host, "build-runner")
    before = ro_host.guest(uuid)
    with pytest.raises(ReadOnlyError, match="read-only"):
        call(ro_host, uuid, *args)  # type: ignore[operator]
    # Nothing reached libvirt: the guest is exactly as it was.
    dom = ro_host.connection().lookupByUUIDString(uuid)
    assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
    assert ro_host.guest(uuid) == before


def test_read_only_connection_is_refused_by_libvirt_too(ro_host: Host) -> None:
    """The backend check is the first wall; libvirt's read-only connection is the second."""
    dom = ro_host.connection().lookupByName("build-runner")
    with pytest.raises(libvirt.libvirtError):
        dom.create()
