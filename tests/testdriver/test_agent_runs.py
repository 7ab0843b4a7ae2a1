"""The per-host store of program runs (backend/agent_runs.py): bounded, one run at a time
per guest, a running program never dropped. Runs on recorded agents: no daemon needed."""

from __future__ import annotations

import pytest

from kvmtui.backend.agent_info import InvalidRequest
from kvmtui.backend.agent_runs import AgentRuns, runs_of
from kvmtui.backend.host import Host
from tests.agent_replay import RecordedAgent
from tests.testdriver.test_agent_screen import SlowAgent


def uuid_of(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


def test_the_store_keeps_the_last_run_of_at_most_max_guests() -> None:
    host = Host("test:///default")  # never started: the recorded agents ask nothing
    runs = AgentRuns(max_guests=3)
    slow = SlowAgent(host, uuid_of(0))
    first = runs.start(slow, ["sleep", "9"], 10.0)
    with pytest.raises(InvalidRequest, match="A program is still running in this guest"):
        runs.start(slow, ["true"], 10.0)
    for n in range(1, 6):
        run = runs.start(RecordedAgent(host, uuid_of(n)), ["uname", "-r"], 10.0)
        assert run.done.wait(10)
        assert run.output is not None and run.output.result.stdout == "6.1.0-56-cloud-amd64\n"
    # The running program stays; of the finished ones only the newest fill the bound.
    assert runs.get(uuid_of(0)) is first and first.running
    assert [runs.get(uuid_of(n)) is not None for n in range(1, 6)] == [False] * 3 + [True] * 2
    slow.release.set()
    assert first.done.wait(10) and first.output is not None
    again = runs.start(slow, ["true"], 10.0)  # ended: the guest may run the next one
    assert again.done.wait(10) and runs.get(uuid_of(0)) is again


def test_one_store_per_host() -> None:
    one, other = Host("test:///default"), Host("test:///default")
    assert runs_of(one) is runs_of(one) and runs_of(one) is not runs_of(other)
