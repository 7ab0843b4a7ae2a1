"""Reading the agent's answers and the admin's input: pure functions, no libvirt."""

from __future__ import annotations

import threading
import time

import pytest

from kvmtui.backend.agent import _Late, bounded
from kvmtui.backend.agent_info import (
    AgentState,
    GuestClock,
    InvalidRequest,
    Secret,
    channel_state,
    exec_argv,
    panel_from_answers,
    parse_capabilities,
    parse_cpu_list,
    parse_request,
    why_unusable,
)
from kvmtui.tui.widgets.agent_panel import drift_text, guest_time_text
from tests.agent_replay import recorded_answers

CHANNEL = """<domain><devices>
  <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'{state}/></channel>
  <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>
</devices></domain>"""


@pytest.mark.parametrize(
    ("state_attr", "running", "expected"),
    [
        (" state='connected'", True, AgentState.CONNECTED),
        (" state='disconnected'", True, AgentState.DISCONNECTED),
        ("", True, AgentState.UNKNOWN),
        (" state='connected'", False, AgentState.NOT_RUNNING),
    ],
)
def test_channel_state_from_the_domain_xml(
    state_attr: str, running: bool, expected: AgentState
) -> None:
    assert channel_state(CHANNEL.format(state=state_attr), running) is expected


def test_no_agent_channel() -> None:
    xml = (
        "<domain><devices><channel type='pty'><target type='serial'/></channel></devices></domain>"
    )
    assert channel_state(xml, True) is AgentState.NO_CHANNEL


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Type a command"),
        ('{"execute": "guest-ping"', "Not valid JSON (line 1, column 25"),
        ("[1]", "must be a JSON object"),
        ('{"arguments": {}}', 'needs "execute"'),
        ('{"execute": ""}', 'needs "execute"'),
        ('{"execute": "guest-ping", "id": 1}', "Unexpected key 'id'"),
        ('{"execute": "guest-exec", "arguments": ["ls"]}', '"arguments" must be a JSON object'),
    ],
)
def test_raw_requests_that_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message.replace("(", r"\(")):
        parse_request(text)


def test_raw_request_accepted() -> None:
    text = ' {"execute": "guest-exec", "arguments": {"path": "ls"}} '
    assert parse_request(text) == ("guest-exec", {"path": "ls"})
    assert parse_request('{"execute": "guest-ping"}') == ("guest-ping", None)


def test_exec_argv_splits_without_expanding() -> None:
    assert exec_argv("ls -l '/my dir' $HOME *") == ("ls", "-l", "/my dir", "$HOME", "*")
    assert exec_argv("echo $(id); rm -rf /", shell="/bin/sh") == (
        "/bin/sh",
        "-c",
        "echo $(id); rm -rf /",
    )
    with pytest.raises(InvalidRequest, match="Cannot split"):
        exec_argv("echo 'unbalanced")
    with pytest.raises(InvalidRequest, match="Type the program"):
        exec_argv("   ")


def test_cpu_lists() -> None:
    assert parse_cpu_list("0-3,5,7-8") == (0, 1, 2, 3, 5, 7, 8)
    assert parse_cpu_list("") == ()


def test_unsupported_and_disabled_commands_give_their_reason() -> None:
    caps = parse_capabilities(
        {
            "version": "7.2.22",
            "supported_commands": [
                {"name": "guest-exec", "enabled": True},
                {"name": "guest-exec-status", "enabled": False},
            ],
        }
    )
    assert why_unusable(("guest-exec",), caps, False) is None
    assert why_unusable(("guest-exec", "guest-exec-status"), caps, False) == (
        "guest-exec-status is disabled in this agent"
    )
    assert why_unusable(("guest-fstrim",), caps, False) == "qemu-ga 7.2.22 has no guest-fstrim"
    assert why_unusable(("guest-exec",), caps, True) == (
        "the guest's filesystems are frozen; thaw them first"
    )
    assert why_unusable(("guest-exec",), None, False) == "the agent's commands are not known yet"


def test_empty_sections_are_empty_when_supported_and_explained_when_not() -> None:
    answers = recorded_answers()
    info = {k: v for k, v in (answers.guest_info or {}).items() if not k.startswith("fs.")}
    panel = panel_from_answers(recorded_answers(guest_info=info))
    assert panel.filesystems == ()  # libvirt leaves out fs.count when nothing is mounted
    caps = dict(answers.capabilities or {})
    caps["supported_commands"] = [
        c for c in caps["supported_commands"] if c["name"] != "guest-get-fsinfo"
    ]
    panel = panel_from_answers(recorded_answers(guest_info=info, capabilities=caps))
    assert panel.filesystems is None
    assert panel.problems["filesystems"] == (
        "The agent cannot tell: qemu-ga 7.2.22 has no guest-get-fsinfo."
    )


def test_clock_text_in_the_guests_zone_and_drift() -> None:
    clock = GuestClock(1_700_000_000.0, 1_700_000_090.0, "CET", 3600)
    assert guest_time_text(clock) == "2023-11-14 23:13:20 CET (UTC+01:00)"
    assert clock.drift_s == -90.0
    assert drift_text(clock.drift_s).plain == "1.5 min behind the host"
    assert drift_text(0.01).plain == "in step with the host (under 0.05 s)"
    assert drift_text(2.5).plain == "2.50 s ahead of the host"


def test_secret_never_shows_itself() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret} {[secret]} {secret!r}"
    assert secret.reveal() == "hunter2" and secret and not Secret("")


def test_bounded_gives_up_at_the_deadline() -> None:
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(_Late):
        bounded(lambda: release.wait(30), 0.2)
    assert time.monotonic() - started < 1.0
    release.set()
    assert bounded(lambda: 42, 1.0) == 42
    with pytest.raises(ZeroDivisionError):
        bounded(lambda: 1 / 0, 1.0)
