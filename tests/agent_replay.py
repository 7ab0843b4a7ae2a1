"""The guest agent replayed from answers recorded on the real test guest.

tests/data/agent/answers.json holds one panel read of qemu-ga 7.2 in the tiny guest
(tests/daemon/test_agent_daemon.py records it and checks it still matches the live agent).
:class:`RecordedAgent` is the real :class:`~backend.agent.GuestAgent` whose reads come
from that file instead of libvirt, so the panel is parsed and drawn exactly as live;
its actions record what they were asked and answer from fixed values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvmtui.backend.agent import GuestAgent
from kvmtui.backend.agent_info import AgentAnswers, AgentState, ExecResult, Secret
from kvmtui.backend.host import Host

RECORDING = Path(__file__).parent / "data" / "agent" / "answers.json"


def recorded_answers(**changes: Any) -> AgentAnswers:
    data = json.loads(RECORDING.read_text())
    data.update(changes)
    return AgentAnswers.from_json(data)


@dataclass
class Calls:
    """What the screen asked of the agent, in order."""

    made: list[tuple[Any, ...]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [str(call[0]) for call in self.made]


class RecordedAgent(GuestAgent):
    def __init__(
        self,
        host: Host,
        uuid: str,
        *,
        state: AgentState = AgentState.CONNECTED,
        answers: AgentAnswers | None = None,
    ) -> None:
        super().__init__(host, uuid)
        self.recorded_state = state
        self.answers = answers or recorded_answers()
        self.calls = Calls()

    def state(self) -> tuple[AgentState, str | None]:
        return self.recorded_state, self.guest_name

    def read_answers(self) -> AgentAnswers:
        self.calls.made.append(("read_answers",))
        return self.answers

    def ping(self) -> float:
        self.calls.made.append(("ping",))
        return 0.012

    def exec(self, argv: Any, limit_s: float = 10.0, *, spool: bool = False) -> ExecResult:
        self.calls.made.append(("exec", tuple(argv), limit_s))
        return ExecResult(
            tuple(argv), 42, True, 0, None, b"6.1.0-56-cloud-amd64\n", b"", False, 0.2, limit_s
        )

    def set_password(self, user: str, password: Secret) -> None:
        self.calls.made.append(("set_password", user, password))

    def raw(self, text: str, limit_s: float | None = None) -> tuple[str, str]:
        self.calls.made.append(("raw", text))
        return "guest-ping", '{\n  "return": {}\n}'
