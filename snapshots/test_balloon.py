"""Snapshot of the memory statistics question on libvirt's test:/// driver
(tests/data/balloon_node.xml): no clock, no statistics, no cursor blink."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input

from conftest import node_uri
from kvmtui.tui.app import KvmtuiApp
from tests.pilot import build_app, no_blink, wait_for
from tests.testdriver.test_balloon import NODE
from tests.testdriver.test_balloon_screen import ask, open_details


def test_balloon_period_refuses_a_bad_value(snap_compare) -> None:
    """b on the running guest "silent" (virtio balloon, no period): the question "How
    often should silent's balloon driver report its memory in use, in seconds? Now: no
    period set. 0 stops the reports; at most 60.", the typed value "1.5", an unticked
    "Keep it in the saved configuration too" and, in red, "'1.5' is not a whole number of
    seconds from 0 to 60. Nothing was changed." Behind it, the dimmed details of
    silent."""

    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, KvmtuiApp)
        await open_details(pilot, app, "silent")
        question = await ask(pilot, app)
        no_blink(pilot)
        question.query_one(Input).value = ""
        await pilot.press("1", ".", "5", "enter")
        await wait_for(pilot, lambda: "Nothing was changed" in question.error_text, "refusal")

    assert snap_compare(
        build_app(node_uri(NODE), stats=False),
        terminal_size=(100, 30),
        run_before=run_before,
    )
