"""The app's backend threads (statistics, host, seed watcher) end with the app, even
when its shutdown fails half-way.

A screen that raises while it closes ends Textual's shutdown before the app's
``on_unmount``; the statistics poller and the host's thread then went on after the
event loop had closed, and every tick logged "stats listener failed" with
``RuntimeError: Event loop is closed``.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from textual.screen import Screen

from conftest import node_uri
from tests.pilot import build_app, loaded
from tests.pilot import wait_for as wait_in_app
from tests.waiting import wait_for


class FailsWhenClosed(Screen[None]):
    """A screen with a bug in its clean-up: it raises while the app shuts down."""

    def on_unmount(self) -> None:
        raise RuntimeError("a screen failing as it closes")


def test_a_failure_while_shutting_down_still_stops_pollers_and_hosts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = build_app(node_uri(), delay=0.1)
    label = app.hosts[0].label
    threads = []

    async def run() -> None:
        async with app.run_test() as pilot:
            await loaded(pilot)
            pollers = app.pollers
            assert pollers is not None
            await wait_in_app(pilot, lambda: pollers.last(label) is not None, "a tick")
            threads.extend(t for t in threading.enumerate() if t.name.endswith(f":{label}"))
            app.push_screen(FailsWhenClosed())
            await pilot.pause()

    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError, match="failing as it"):
        asyncio.run(run())
    names = {t.name for t in threads}
    assert names == {f"stats:{label}", f"host:{label}", f"seed-watch:{label}"}
    wait_for(lambda: not any(t.is_alive() for t in threads), 10, what="the threads to end")
    assert "stats listener failed" not in caplog.text
