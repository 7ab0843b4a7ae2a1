"""Fixtures shared by tests/ and snapshots/: libvirt's own test:/// driver."""

from __future__ import annotations

import inspect
import pickle
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_textual_snapshot import node_to_report_path
from textual.app import App
from textual.pilot import Pilot

from kvmtui.tui.logsetup import close_logging, setup_logging
from tests import snapshot_diff
from tests.pilot import footer_settled, wait_for

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


# -- snapshots ---------------------------------------------------------------------

#: pytest-textual-snapshot's comparison: (app, terminal_size=..., run_before=...) -> bool
Compare = Callable[..., bool]


@pytest.fixture
def snap_compare(snap_compare: Compare, request: pytest.FixtureRequest) -> Compare:
    """pytest-textual-snapshot's ``snap_compare``, each picture taken once the screen's
    footer shows its keys. Textual composes a footer's keys after the refresh that follows
    a change of bindings (a screen pushed, a reading that enables a key); the plugin pauses
    a fixed number of times, and a pause ends early when the process gets little CPU
    (Textual's idle test reads the process's CPU time), so on a loaded machine the picture
    was taken with the footer empty or a frame behind. Waiting for the condition instead
    keeps the pictures the same on any machine. Keys given as ``press`` are pressed before
    the wait. A picture that differs fails with the rows that differ, in words
    (tests/snapshot_diff.py): the HTML report stays on the machine that ran it."""

    def compare(
        app: App[Any],
        press: tuple[str, ...] = (),
        run_before: Callable[[Pilot[None]], Awaitable[None] | None] | None = None,
        **kwargs: Any,
    ) -> bool:
        async def settled(pilot: Pilot[None]) -> None:
            if run_before is not None:
                result = run_before(pilot)
                if inspect.isawaitable(result):
                    await result
            if press:
                await pilot.press(*press)
            await wait_for(pilot, lambda: footer_settled(pilot.app.screen), "the footer's keys")

        if snap_compare(app, run_before=settled, **kwargs):
            return True
        # What the plugin saved for its report: (result, expected SVG, actual SVG, ...).
        saved = pickle.loads(node_to_report_path(request.node).read_bytes())
        raise AssertionError("\n".join(snapshot_diff.report(saved[1], saved[2])))

    return compare
