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


#: tests/ folders by what their tests need, lightest first; a module lives in the folder
#: of the heaviest marker among its tests (unit and testdriver tests carry none).
TEST_FOLDERS = ("unit", "testdriver", "daemon", "disruptive")


def folder_errors(items: list[pytest.Item], rootdir: Path) -> list[str]:
    """Where a test's markers and its folder under tests/ disagree."""
    problems = []
    for item in items:
        parts = item.path.relative_to(rootdir).parts
        if parts[0] != "tests":
            continue
        folder = parts[1] if len(parts) > 2 else ""
        if folder not in TEST_FOLDERS:
            where = ", ".join(f"tests/{name}/" for name in TEST_FOLDERS)
            problems.append(f"{item.nodeid}: test modules live in one of {where}")
        elif item.get_closest_marker("disruptive") and folder != "disruptive":
            problems.append(f"{item.nodeid}: marked disruptive, so it belongs in tests/disruptive/")
        elif item.get_closest_marker("daemon") and folder not in ("daemon", "disruptive"):
            problems.append(f"{item.nodeid}: marked daemon, so it belongs in tests/daemon/")
    return problems


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that stop and restart the shared libvirtd run after every other test; a test
    outside the folder its markers name stops the run."""
    problems = folder_errors(items, config.rootpath)
    if problems:
        raise pytest.UsageError("\n".join(problems))
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
