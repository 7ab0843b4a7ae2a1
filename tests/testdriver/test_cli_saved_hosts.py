"""kvmtui without -c opens the saved hosts marked to connect at start (HOME and
XDG_CONFIG_HOME pointed at a temporary folder); -c still wins; a broken file stops the
start with its line; no saved host keeps today's default."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from conftest import node_uri
from kvmtui.backend import hostfile
from kvmtui.backend.hostfile import SavedHost
from kvmtui.tui import cli

GUESTS = 13


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LIBVIRT_DEFAULT_URI", raising=False)
    return tmp_path / "xdg" / "kvmtui" / "hosts.toml"


def save_three(path: Path) -> None:
    hostfile.save(
        [
            SavedHost("lab", node_uri(), autoconnect=True),
            SavedHost("idle", node_uri()),
            SavedHost("watch", node_uri(), readonly=True, autoconnect=True),
        ],
        path,
    )


def test_batch_without_c_reads_the_saved_hosts(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_three(config)
    assert cli.main(["--batch", "-d", "0.1"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 2 * GUESTS
    assert {r["host"] for r in rows} == {"lab", "watch"}  # "idle" does not connect at start


def test_app_without_c_opens_the_autoconnect_hosts_read_only_as_saved(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_three(config)
    started: dict[str, Any] = {}

    def run_app(uris: list[str | None], **options: Any) -> int:
        started.update(options, uris=uris)
        return 0

    monkeypatch.setattr(cli, "run_app", run_app)
    assert cli.main([]) == 0
    assert started["uris"] == [f"lab={node_uri()}", f"watch={node_uri()}"]
    assert started["readonly"] == [False, True]
    assert cli.main(["-r"]) == 0
    assert started["readonly"] == [True, True] and started["session_readonly"] is True


def test_c_still_wins_and_skips_the_file(config: Path) -> None:
    config.parent.mkdir(parents=True)
    config.write_text("[[host]\n")  # broken, but not read with -c
    assert cli.start_targets(["test:///default"], False) == (["test:///default"], False)


def test_no_saved_host_keeps_the_default(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli.start_targets(None, False) == ([None], False)
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", "test:///default")
    hostfile.save([SavedHost("off", node_uri())], config)  # saved, not at start
    assert cli.start_targets(None, False) == (["test:///default"], False)


def test_broken_file_stops_with_its_line_and_is_kept(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config.parent.mkdir(parents=True)
    text = '[[host]]\nname = "lab"\nuri = "test:///default"\nautoconnect = yes\n'
    config.write_text(text)
    assert cli.main(["--batch"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"kvmtui: {config} is broken at line 4")
    assert config.read_text() == text
