"""The status area's compact form with the Pilot on test:/// hosts: problems first and
always shown, the summary counts, the overflow pointed to the host view."""

from __future__ import annotations

import pytest

from conftest import node_uri
from kvmtui.backend.model import ConnectionState
from kvmtui.tui.widgets.host_status import HostStatusLine
from tests.pilot import build_app, loaded, run_async

MISSING_URI = "test:///nonexistent/missing.xml"

pytestmark = pytest.mark.usefixtures("utc")


@run_async
async def test_disconnected_hosts_come_first_and_are_never_hidden() -> None:
    targets = [f"h{i}={node_uri() if i < 6 else MISSING_URI}" for i in range(1, 11)]
    app = build_app(*targets, stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await loaded(pilot)
        bar = screen.status_bar
        assert bar.compact
        lines = [w for w in bar.children if isinstance(w, HostStatusLine)]
        shown = [line.status.label for line in lines if line.display]
        assert shown[:5] == ["h6", "h7", "h8", "h9", "h10"]  # the five problems, in order
        assert all(
            line.display for line in lines if line.status.state is ConnectionState.DISCONNECTED
        )
        assert len(shown) == 5  # 4 lines at 24 rows: the problems alone exceed them
        summary = str(bar.query_one("#host-summary").render())
        assert summary == "10 hosts: 5 connected, 5 disconnected since 22:13:20  ·  5 more: H"
        assert all(line.size.height == 1 for line in lines if line.display)
