"""Fixtures shared by tests/ and snapshots/: libvirt's own test:/// driver."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmtui.tui.logsetup import close_logging, setup_logging

NODE_XML = Path(__file__).parent / "tests" / "data" / "node.xml"


def node_uri(path: Path = NODE_XML) -> str:
    """A test:/// URI for a node file. Each connection gets its own fresh copy of the node."""
    return f"test://{path.resolve()}"


@pytest.fixture
def test_node_uri() -> str:
    """Thirteen guests in every state, deterministic (see tests/data/node.xml)."""
    return node_uri()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that stop and restart the shared libvirtd run after every other test."""
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times of day render in UTC whatever the machine's zone (deterministic screens)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(autouse=True)
def _state_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """No test writes kvmtui's log into the real home: the XDG state directory is a
    temporary one, and a log file a test (or the command line it runs) set up is closed."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    yield state
    close_logging()


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """kvmtui's log set up as the command line does, in a temporary file; its path."""
    path = setup_logging(tmp_path / "kvmtui.log")
    assert path is not None
    yield path
    close_logging()
