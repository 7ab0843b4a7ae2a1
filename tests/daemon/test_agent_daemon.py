"""The guest agent against the real qemu-ga 7.2 in the tiny test guest.

One guest (two vCPUs, an ext2 filesystem made on its data disk and mounted at
/mnt/data through guest-exec) serves the tests that leave it as they found it; the
tests that stop the agent or the guest boot their own. Every wait has a deadline.

``KVMTUI_RECORD_AGENT=1`` makes ``test_recording_matches_the_live_agent`` rewrite
tests/data/agent/answers.json from the live guest (the snapshot replays it).
"""

from __future__ import annotations

import json
import os
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest

from kvmtui.backend import agent as agent_module
from kvmtui.backend.agent import (
    AgentRefusedError,
    AgentTimeoutError,
    AgentUnavailableError,
    GuestAgent,
)
from kvmtui.backend.agent_info import AgentState, InvalidRequest, Secret, exec_argv
from kvmtui.backend.errors import ReadOnlyError
from kvmtui.backend.host import Host
from tests.conftest import TEST_GUEST_PREFIX, _remove_guests
from tests.harness.guest_files import HOSTNAME, OS_RELEASE, PROMPT
from tests.harness.guests import agent_command, define_guest, wait_for_agent, wait_for_state
from tests.harness.image import GuestImage
from tests.harness.serial import SerialConsole
from tests.hosts import started_host
from tests.waiting import wait_for

pytestmark = pytest.mark.daemon

BOOT_S = 90.0  # TCG on a busy 2-core machine
RECORDING = Path(__file__).parents[1] / "data" / "agent" / "answers.json"
MOUNT = "/mnt/data"


def guest_exec(
    dom: libvirt.virDomain, *argv: str, timeout: float = 30.0, capture: bool = False
) -> dict[str, Any]:
    """Run a program through the agent (harness side, not the code under test)."""
    arguments = {"path": argv[0], "arg": list(argv[1:]), "capture-output": capture}
    started = agent_command(dom, "guest-exec", arguments)
    assert isinstance(started, dict)

    def exited() -> dict[str, Any] | None:
        status = agent_command(dom, "guest-exec-status", {"pid": started["pid"]})
        assert isinstance(status, dict)
        return status if status["exited"] else None

    status = wait_for(exited, timeout, 0.1, f"{argv} to exit")
    assert status is not None and status["exitcode"] == 0, f"{argv} failed in the guest: {status}"
    return status


@pytest.fixture(scope="module")
def agent_guest(daemon_uri: str, guest_image: GuestImage) -> Iterator[libvirt.virDomain]:
    """A booted guest with 2 vCPUs and ext2 on /dev/vda mounted at /mnt/data."""
    name = f"{TEST_GUEST_PREFIX}{uuid.uuid4().hex[:8]}"
    conn = libvirt.open(daemon_uri)
    try:
        dom = define_guest(conn, name, guest_image, vcpus=2)
        wait_for_agent(dom, BOOT_S)
        guest_exec(dom, "mke2fs", "-q", "/dev/vda")
        guest_exec(dom, "mkdir", "-p", MOUNT)
        guest_exec(dom, "mount", "-t", "ext2", "/dev/vda", MOUNT)
        yield dom
    finally:
        conn.close()
        _remove_guests(daemon_uri, [name])


@pytest.fixture(scope="module")
def host(daemon_uri: str) -> Iterator[Host]:
    with started_host(daemon_uri) as host:
        yield host


@pytest.fixture
def agent(host: Host, agent_guest: libvirt.virDomain) -> GuestAgent:
    return GuestAgent(host, agent_guest.UUIDString(), limit_s=10.0)


def xml_mac(dom: libvirt.virDomain) -> str:
    mac = ET.fromstring(dom.XMLDesc(0)).find("devices/interface/mac")
    assert mac is not None
    return mac.get("address", "")


# -- the panel ------------------------------------------------------------------------------


def test_panel_shows_the_guests_real_values(
    agent: GuestAgent, agent_guest: libvirt.virDomain
) -> None:
    assert agent.state()[0] is AgentState.CONNECTED
    panel = agent.read_panel()
    assert panel.problems == {}
    assert panel.hostname == HOSTNAME
    assert panel.os is not None
    assert f'PRETTY_NAME="{panel.os.pretty_name}"' in OS_RELEASE
    assert f'NAME="{panel.os.name}"' in OS_RELEASE
    assert panel.os.version_id == "1"
    uname = agent.exec(["uname", "-r"])
    assert panel.os.kernel_release == uname.stdout.strip()
    assert panel.vcpus is not None and panel.vcpus.online == (0, 1)
    assert panel.clock is not None and abs(panel.clock.drift_s) < 5 and panel.clock.zone == "UTC"
    assert panel.users == ()  # nobody logs in on the tiny guest
    assert panel.filesystems is not None
    (data,) = [fs for fs in panel.filesystems if fs.mountpoint == MOUNT]
    assert data.fstype == "ext2" and data.total_bytes is not None
    assert 50 * 2**20 < data.total_bytes <= 64 * 2**20
    assert panel.disks is not None and [d.name for d in panel.disks] == ["/dev/vda"]
    assert panel.disks[0].alias == "vda"
    assert panel.interfaces is not None
    by_name = {nic.name: nic for nic in panel.interfaces}
    assert by_name["eth0"].mac == xml_mac(agent_guest)
    assert "127.0.0.1/8" in [a.text for a in by_name["lo"].addresses]
    assert panel.capabilities is not None and panel.capabilities.version.startswith("7.2")
    assert panel.capabilities.supports("guest-exec")
    assert panel.capabilities.why_not("guest-get-devices") == (
        "guest-get-devices is disabled in this agent"
    )
    assert panel.frozen is False


def test_recording_matches_the_live_agent(agent: GuestAgent) -> None:
    """The snapshot's recorded answers have the shape the live agent gives today.

    The guest's answers fill in for some seconds after its agent first answers (an IPv6
    link-local address after duplicate detection, the time zone once init has set it), so
    the live answers are read again, up to 30 s, until their shape is the recording's;
    after that the comparison below says what differs."""
    recorded = json.loads(RECORDING.read_text())

    def shape(answers_json: dict[str, Any]) -> dict[str, list[str]]:
        """The keys at the top, and the keys of guest_info and interfaces."""
        return {"": sorted(answers_json)} | {
            key: sorted(answers_json.get(key, {})) for key in ("guest_info", "interfaces")
        }

    deadline = time.monotonic() + 30.0
    while True:
        answers = agent.read_answers()
        assert not answers.errors
        live = answers.to_json()
        if shape(live) == shape(recorded) or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    if os.environ.get("KVMTUI_RECORD_AGENT") == "1":
        RECORDING.parent.mkdir(parents=True, exist_ok=True)
        RECORDING.write_text(json.dumps(live, indent=1, sort_keys=True) + "\n")
        recorded = live
    assert sorted(live) == sorted(recorded)
    assert sorted(live["guest_info"]) == sorted(recorded["guest_info"])
    assert sorted(live["interfaces"]) == sorted(recorded["interfaces"])


# -- exec -----------------------------------------------------------------------------------


def test_exec_uname_shows_the_kernel_and_exit_code_0(agent: GuestAgent) -> None:
    result = agent.exec(["uname", "-r"])
    assert result.finished and result.exit_code == 0 and result.summary == "exit code 0"
    assert result.stdout.strip().endswith("-amd64") and result.stderr == ""


def test_a_failing_program_shows_its_exit_code_and_stderr(agent: GuestAgent) -> None:
    result = agent.exec(["ls", "/nonexistent"])
    assert result.finished and result.exit_code == 1
    assert "No such file or directory" in result.stderr


def test_a_program_outliving_its_limit_is_reported(agent: GuestAgent) -> None:
    started = time.monotonic()
    result = agent.exec(["sleep", "30"], limit_s=1.0)
    assert time.monotonic() - started < 6.0
    assert not result.finished and result.exit_code is None
    assert "still running after the 1 s limit" in result.summary
    agent.exec(["kill", str(result.pid)])


def test_a_missing_program_is_a_sentence(agent: GuestAgent) -> None:
    with pytest.raises(AgentRefusedError, match=r"the agent refused guest-exec: .*nosuchprogram"):
        agent.exec(["nosuchprogram"])


def test_typed_text_reaches_no_shell_unless_chosen(agent: GuestAgent) -> None:
    # A path that exists in the guest (/tmp) and would exist on the host if a host shell ran.
    marker = Path(f"/tmp/kvmtui-agent-{uuid.uuid4().hex[:8]}")
    line = f"echo $(touch {marker}) '*'"
    literal = agent.exec(exec_argv(line))
    assert literal.stdout == f"$(touch {marker}) *\n"  # no shell: passed as typed
    assert not marker.exists()
    through_shell = agent.exec(exec_argv(f"touch {marker} && echo made", shell="/bin/sh"))
    assert through_shell.stdout == "made\n"
    assert not marker.exists()  # the guest's shell made it in the guest, not on the host
    assert agent.exec(["rm", str(marker)]).exit_code == 0


# -- clock, freeze, trim, password, raw -----------------------------------------------------


def test_set_time_moves_the_guest_clock(agent: GuestAgent, agent_guest: libvirt.virDomain) -> None:
    an_hour_ago_ns = int((time.time() - 3600) * 1e9)
    agent_command(agent_guest, "guest-set-time", {"time": an_hour_ago_ns})
    assert -3700 < agent.read_clock().drift_s < -3500
    clock = agent.set_time_from_host()
    assert abs(clock.drift_s) < 2.0


def test_freeze_then_thaw_round_trip(agent: GuestAgent) -> None:
    assert agent.freeze() >= 1
    try:
        assert agent.frozen()
        panel = agent.read_panel()
        assert panel.frozen is True
        assert "frozen" in panel.problems["time"]
        with pytest.raises(AgentRefusedError, match="frozen state"):
            agent.exec(["true"])
    finally:
        assert agent.thaw() >= 1
    assert not agent.frozen()
    assert agent.exec(["touch", f"{MOUNT}/after-thaw"]).exit_code == 0


def test_fstrim_reports_the_mounted_filesystem(agent: GuestAgent) -> None:
    results = {r.mountpoint: r for r in agent.fstrim()}
    assert results[MOUNT].error is None and results[MOUNT].trimmed_bytes is not None


def test_set_password_reaches_the_guests_chpasswd_and_nowhere_else(
    agent: GuestAgent, caplog: pytest.LogCaptureFixture
) -> None:
    # busybox has no chpasswd: a stand-in in the guest's (tmpfs) root keeps what it gets.
    shim = "#!/bin/sh\ncat > /tmp/chpasswd.in\n"
    agent.exec(["sh", "-c", f"printf '%s' '{shim}' > /usr/sbin/chpasswd"])
    agent.exec(["chmod", "+x", "/usr/sbin/chpasswd"])
    password = "correct horse: battery staple"
    try:
        agent.set_password("root", Secret(password))
        assert agent.exec(["cat", "/tmp/chpasswd.in"]).stdout == f"root:{password}\n"
    finally:
        agent.exec(["rm", "-f", "/usr/sbin/chpasswd", "/tmp/chpasswd.in"])
    with pytest.raises(AgentRefusedError) as refused:
        agent.set_password("root", Secret(password))  # the stand-in is gone again
    assert "chpasswd" in str(refused.value) or "passwd" in str(refused.value)
    assert password not in str(refused.value)
    assert password not in caplog.text
    assert password not in repr(Secret(password))


def test_invalid_raw_json_is_refused_before_sending(
    agent: GuestAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    real = agent_module.libvirt_qemu.qemuAgentCommand

    def spy(dom: libvirt.virDomain, text: str, timeout: int, flags: int) -> str:
        sent.append(text)
        return str(real(dom, text, timeout, flags))

    monkeypatch.setattr(agent_module.libvirt_qemu, "qemuAgentCommand", spy)
    for bad in ('{"execute": "guest-ping"', "[1, 2]", '{"arguments": {}}', '{"execute": 3}'):
        with pytest.raises(InvalidRequest):
            agent.raw(bad)
    assert sent == []
    command, reply = agent.raw('{"execute": "guest-get-host-name"}')
    assert command == "guest-get-host-name"
    assert json.loads(reply) == {"return": {"host-name": HOSTNAME}}
    assert len(sent) == 1


def test_ping(agent: GuestAgent) -> None:
    assert 0 <= agent.ping() < 10


def test_read_only_is_refused_before_libvirt_and_by_libvirt(
    daemon_uri: str, agent_guest: libvirt.virDomain, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []

    def spy(dom: libvirt.virDomain, text: str, timeout: int, flags: int) -> str:
        sent.append(text)
        return "{}"

    monkeypatch.setattr(agent_module.libvirt_qemu, "qemuAgentCommand", spy)
    readonly = Host(daemon_uri, readonly=True)
    readonly.start()
    try:
        assert readonly.wait_connected(30)
        agent = GuestAgent(readonly, agent_guest.UUIDString())
        assert agent.state()[0] is AgentState.CONNECTED  # the XML is readable
        for call in (agent.read_panel, agent.ping, lambda: agent.exec(["true"])):
            with pytest.raises(ReadOnlyError, match="read-only"):
                call()
        assert sent == []
    finally:
        readonly.stop()
    conn = libvirt.openReadOnly(daemon_uri)
    try:
        with pytest.raises(libvirt.libvirtError) as denied:
            conn.lookupByUUIDString(agent_guest.UUIDString()).guestInfo(0, 0)
        assert denied.value.get_error_code() == libvirt.VIR_ERR_OPERATION_DENIED
    finally:
        conn.close()


# -- agent stopped, hung; shutdown (own guests) ---------------------------------------------


def serial_command(dom: libvirt.virDomain, command: str, done: str) -> None:
    with SerialConsole(dom) as console:
        console.wait_for_prompt(PROMPT.encode(), 20)
        console.send(f"{command}; echo {done}-$?\r".encode())
        console.read_until(f"{done}-0".encode(), 20)


def test_hung_then_stopped_agent_fails_within_the_limit(
    host: Host, booted_guest: libvirt.virDomain
) -> None:
    agent = GuestAgent(host, booted_guest.UUIDString(), limit_s=2.0)
    agent.ping()
    serial_command(booted_guest, "kill -STOP $(pidof qemu-ga)", "stopped")
    started = time.monotonic()
    # libvirt's own timeout (given the same limit) or ours: either way within the limit.
    with pytest.raises(AgentUnavailableError, match=r"not responding|no answer within 2 s") as late:
        agent.ping()
    assert time.monotonic() - started < 4.0
    assert "qemu-ga" in str(late.value)
    # getTime takes no timeout: libvirt would wait 5 s for the hung agent, the limit is 2.
    started = time.monotonic()
    with pytest.raises(AgentTimeoutError, match="no answer within 2 s"):
        agent.read_clock()
    assert time.monotonic() - started < 4.0
    serial_command(booted_guest, "kill -9 $(pidof qemu-ga)", "killed")
    uuid_ = booted_guest.UUIDString()
    wait_for(
        lambda: (g := host.guest(uuid_)) is not None and g.agent_connected is False,
        20,
        what="the agent-lifecycle event",
    )
    assert agent.state()[0] is AgentState.DISCONNECTED
    started = time.monotonic()
    with pytest.raises(AgentUnavailableError, match="not connected"):
        agent.ping()
    assert time.monotonic() - started < 2.5


def test_agent_shutdown_stops_the_guest(host: Host, booted_guest: libvirt.virDomain) -> None:
    GuestAgent(host, booted_guest.UUIDString()).shutdown()
    wait_for_state(booted_guest, libvirt.VIR_DOMAIN_SHUTOFF, 60)
