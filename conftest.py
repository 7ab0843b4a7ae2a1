"""Fixtures shared by tests/ and snapshots/: libvirt's own test:/// driver."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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
