"""Memory hot-plug's onlining (backend/config_changes.py) on qemu-ga's answers recorded
from the real tiny guest around DIMM plugs (tests/record_memory_blocks.py wrote
tests/data/agent/memory-blocks.json): only the blocks the plug added are touched, a guest
that onlines them itself is said so, and each block's answer is checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kvmtui.backend import config_changes
from kvmtui.backend.config_changes import new_blocks, online_memory, refused_blocks

RECORDED: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "agent" / "memory-blocks.json").read_text()
)


@pytest.fixture(autouse=True)
def _short_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks seen offline are left to the guest this long (1.5 s in kvmtui)."""
    monkeypatch.setattr(config_changes, "SELF_ONLINE_S", 0.3)


def blocks(name: str) -> dict[int, bool]:
    return {b["phys-index"]: b["online"] for b in RECORDED[name]}


class Replay:
    """The agent's recorded answers: ``gets`` in turn to guest-get-memory-blocks (the
    last one repeated), ``sets`` to guest-set-memory-blocks; what was sent is kept."""

    def __init__(self, gets: list[list[dict[str, Any]]], sets: tuple[Any, ...] = ()) -> None:
        self.gets, self.sets = list(gets), list(sets)
        self.sent: list[tuple[str, Any]] = []

    def command(self, action: str, command: str, arguments: dict[str, Any] | None = None) -> Any:
        self.sent.append((command, arguments))
        if command == "guest-get-memory-blocks":
            return self.gets.pop(0) if len(self.gets) > 1 else self.gets[0]
        return self.sets.pop(0)


def test_the_plugged_block_arrives_offline_and_only_it_is_brought_online() -> None:
    fresh = new_blocks(blocks("before"), blocks("plugged"))
    assert fresh and not any(fresh.values())  # the tiny guest leaves it offline
    agent = Replay([RECORDED["before"], RECORDED["plugged"]], [RECORDED["set_online"]])
    assert online_memory(agent, blocks("before")) == ", online in the guest"
    sent = [args for command, args in agent.sent if command == "guest-set-memory-blocks"]
    assert sent == [{"mem-blks": [{"phys-index": i, "online": True} for i in fresh]}]


def test_a_block_offline_before_the_plug_is_left_offline() -> None:
    """An offline block the guest had before (the admin's, or a failed one) is not the
    DIMM's: kvmtui asks only for the new ones."""
    kept = min(blocks("before"))
    before = [dict(b, online=b["online"] and b["phys-index"] != kept) for b in RECORDED["before"]]
    plugged = [dict(b, online=b["online"] and b["phys-index"] != kept) for b in RECORDED["plugged"]]
    agent = Replay([plugged], [RECORDED["set_online"]])
    online_memory(agent, {b["phys-index"]: b["online"] for b in before})
    (_command, args), = [s for s in agent.sent if s[0] == "guest-set-memory-blocks"]
    asked = {block["phys-index"] for block in args["mem-blks"]}
    assert kept not in asked and asked == set(new_blocks(blocks("before"), blocks("plugged")))


def test_a_guest_that_onlines_new_memory_itself_is_said_so_and_not_asked() -> None:
    fresh = new_blocks(blocks("onlined"), blocks("self_onlined"))
    assert fresh and all(fresh.values())  # auto_online_blocks=online, as udev rules do
    agent = Replay([RECORDED["self_onlined"]])
    assert online_memory(agent, blocks("onlined")) == (
        ", online (the guest brought it online itself)"
    )
    assert [command for command, _ in agent.sent] == ["guest-get-memory-blocks"]


def test_each_blocks_refusal_is_read_and_said() -> None:
    assert refused_blocks(RECORDED["set_online"]) == []
    for name in ("set_missing", "set_offline_boot"):
        (answer,) = RECORDED[name]
        assert answer["response"] != "success"
        (said,) = refused_blocks(RECORDED[name])
        assert said.startswith(f"block {answer['phys-index']}: {answer['response']}"), said
    agent = Replay([RECORDED["plugged"]], [RECORDED["set_missing"]])
    text = online_memory(agent, blocks("before"))
    assert text.startswith(", 1 of 1 new memory blocks not online (block "), text
    assert "online in the guest" not in text


def test_no_agent_before_the_plug_or_no_new_block_is_said(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "did not answer before the plug" in online_memory(Replay([[]]), None)
    monkeypatch.setattr(config_changes, "ONLINE_WITHIN_S", 0.3)
    agent = Replay([RECORDED["before"]])
    assert "not seen by the guest within 0.3 s" in online_memory(agent, blocks("before"))
    assert all(command == "guest-get-memory-blocks" for command, _ in agent.sent)


def test_a_block_seen_offline_that_the_guest_onlines_a_moment_later_is_its_own() -> None:
    """The kernel registers the new block, then onlines it; the agent may read between
    the two (under load): kvmtui waits, sees the guest online it, and sends nothing."""
    agent = Replay([RECORDED["before"], RECORDED["plugged"], RECORDED["onlined"]])
    assert online_memory(agent, blocks("before")) == (
        ", online (the guest brought it online itself)"
    )
    assert {command for command, _ in agent.sent} == {"guest-get-memory-blocks"}
