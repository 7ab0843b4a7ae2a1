"""Snapshots of the hosts screen (ctrl+o) and its form at 80x24, on libvirt's test:///
driver. HOME is a temporary folder, so the title reads ~/.config/kvmtui/hosts.toml."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from kvmtui.backend import hostfile
from kvmtui.backend.hostfile import SavedHost
from kvmtui.screens.hosts import HostFormScreen
from tests.pilot import build_app, no_blink, open_hosts, wait_for

MISSING_URI = "test:///nonexistent/missing.xml"

pytestmark = pytest.mark.usefixtures("utc")


@pytest.fixture
def saved_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    path = hostfile.default_path()
    hostfile.save(
        [
            SavedHost("lab", "test:///default", autoconnect=True),
            SavedHost("down", MISSING_URI, autoconnect=True),
            SavedHost("kvm2", "qemu+ssh://admin@kvm2.example.org/system", readonly=True),
        ],
        path,
    )
    return path


def test_hosts_screen_80x24(snap_compare, saved_file: Path) -> None:
    """The title "Saved hosts: ~/.config/kvmtui/hosts.toml"; columns Name, State,
    Options, URI: lab (connected in green, "at start", test:///default), down
    ("disconnected since 22:13:20" in red, "at start"), kvm2 ("not open" dim,
    "read-only", its ssh URI), cli (connected, "not saved": opened with -c); no
    horizontal scrollbar; the footer with a Add, e Edit, d Remove, c Connect,
    x Disconnect, t Test, esc Back."""

    async def run_before(pilot: Pilot[None]) -> None:
        await open_hosts(pilot)
        no_blink(pilot)

    app = build_app("lab=test:///default", f"down={MISSING_URI}", "cli=test:///default")
    app.hosts_file = saved_file
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_host_form_uri_sentence_80x24(snap_compare, saved_file: Path) -> None:
    """e on kvm2 (third row): the form over the list with Name kvm2, the URI changed to
    "qemu+ssh:///system" and under it, in red, "A qemu+ssh URI needs a host name, as in
    qemu+ssh://host/system."; two one-line checkboxes: read-only ticked, connect at start
    not."""

    async def run_before(pilot: Pilot[None]) -> None:
        await open_hosts(pilot)
        await pilot.press("down", "down", "e")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HostFormScreen), "form")
        form = pilot.app.screen
        assert isinstance(form, HostFormScreen)
        form.query_one("#host-uri", Input).value = "qemu+ssh:///system"
        await wait_for(pilot, lambda: "needs a host name" in form.error_text, "sentence")
        no_blink(pilot)

    app = build_app("lab=test:///default", f"down={MISSING_URI}", "cli=test:///default")
    app.hosts_file = saved_file
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
