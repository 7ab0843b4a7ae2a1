"""Fixtures for tests against the real libvirtd and real tiny guests (tests/harness)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import libvirt
import pytest

from tests.harness import daemon
from tests.harness.cloudimage import CloudImage, build_cloud_image
from tests.harness.guests import (
    AgentTimeout,
    GuestFactory,
    cleanup_guests,
    define_guest,
    destroy_and_undefine,
    quiet_libvirt_errors,
    remove_disks,
    wait_for_agent,
)
from tests.harness.image import GuestImage, build_image

TEST_GUEST_PREFIX = "kvmtui-test-"
AGENT_DEADLINE_S = 60.0


@pytest.fixture(scope="session")
def daemon_uri() -> str:
    """qemu:///system on a libvirtd started by the harness if none answered.

    First use in a session also removes kvmtui-test-* guests left by an earlier run.
    """
    try:
        daemon.ensure_daemon()
    except daemon.DaemonError as error:
        pytest.fail(f"libvirtd could not be started: {error}", pytrace=False)
    quiet_libvirt_errors()
    conn = libvirt.open(daemon.SYSTEM_URI)
    try:
        cleanup_guests(conn, TEST_GUEST_PREFIX)
    finally:
        conn.close()
    return daemon.SYSTEM_URI


@pytest.fixture(scope="session")
def tcp_uri(daemon_uri: str) -> str:
    """qemu+tcp://127.0.0.1/system on the same daemon."""
    if not daemon.tcp_listening():
        pytest.fail(
            "libvirtd answers on qemu:///system but does not listen on TCP 127.0.0.1:16509; "
            "it was started without --listen or without listen_tcp=1 "
            "(stop it and run `make daemon`)",
            pytrace=False,
        )
    return daemon.TCP_URI


@pytest.fixture(scope="session")
def guest_image() -> GuestImage:
    """The tiny guest's kernel and initramfs (built once into .cache/guest/)."""
    return build_image()


@pytest.fixture(scope="session")
def cloud_image() -> CloudImage:
    """The cloud-init guest: a debootstrap root in a qcow2 (built once into .cache/cloud/)."""
    return build_cloud_image()


def _remove_guests(uri: str, names: list[str]) -> None:
    """Destroy+undefine NAMES on a fresh connection (the daemon may have been restarted)."""
    if not daemon.daemon_answers(uri):
        daemon.ensure_daemon()  # a fault test that failed midway may have left it down
    conn = libvirt.open(uri)
    try:
        for name in names:
            try:
                destroy_and_undefine(conn.lookupByName(name))
            except libvirt.libvirtError as error:
                if error.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
            remove_disks(name)
    finally:
        conn.close()


@pytest.fixture
def guest_factory(daemon_uri: str, guest_image: GuestImage) -> Iterator[GuestFactory]:
    """make(memory_mib=256, vcpus=1, start=True, display=False) -> a new kvmtui-test-XXXXXXXX guest.

    Every guest made is destroyed, undefined and its disks removed at teardown.
    """
    conn = libvirt.open(daemon_uri)
    created: list[str] = []

    def make(
        *, memory_mib: int = 256, vcpus: int = 1, start: bool = True, display: bool = False
    ) -> libvirt.virDomain:
        name = f"{TEST_GUEST_PREFIX}{uuid.uuid4().hex[:8]}"
        created.append(name)
        return define_guest(
            conn,
            name,
            guest_image,
            memory_mib=memory_mib,
            vcpus=vcpus,
            start=start,
            display=display,
        )

    yield make
    with contextlib.suppress(libvirt.libvirtError):  # its daemon may have been restarted
        conn.close()
    _remove_guests(daemon_uri, created)


@pytest.fixture
def booted_guest(guest_factory: GuestFactory) -> libvirt.virDomain:
    """A running tiny guest whose agent answers guest-ping (deadline 60 s)."""
    dom = guest_factory()
    try:
        wait_for_agent(dom, AGENT_DEADLINE_S)
    except AgentTimeout as error:
        pytest.fail(str(error), pytrace=False)
    return dom


@pytest.fixture
def display_guest(guest_factory: GuestFactory) -> libvirt.virDomain:
    """A running tiny guest with a VGA screen (kernel log on tty0, a shell on tty1) whose
    agent answers guest-ping (so its shells are up)."""
    dom = guest_factory(display=True)
    try:
        wait_for_agent(dom, AGENT_DEADLINE_S)
    except AgentTimeout as error:
        pytest.fail(str(error), pytrace=False)
    return dom


@pytest.fixture(scope="session")
def daemon2_uri(daemon_uri: str) -> str:
    """qemu+tcp://10.251.0.2/system: a second libvirtd that libvirt takes for another host
    (tests/harness/daemon2.py), started here if it does not answer; its kvmtui-test-*
    guests from an earlier run are removed. A test using it fails with the harness's
    reason when it cannot start."""
    from tests.harness import daemon2

    try:
        daemon2.start()
    except daemon.DaemonError as error:
        pytest.fail(f"the second libvirtd could not be started: {error}", pytrace=False)
    conn = libvirt.open(daemon2.URI)
    try:
        cleanup_guests(conn, TEST_GUEST_PREFIX)
    finally:
        conn.close()
    return daemon2.URI
