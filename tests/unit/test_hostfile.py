"""The saved hosts file (backend/hostfile.py): round trip, atomic 0600 writes, a broken
file reported with its line and never written over, URIs and names checked as typed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kvmtui.backend import hostfile
from kvmtui.backend.hostfile import HostFileError, SavedHost

HOSTS = [
    SavedHost("local", "qemu:///system", autoconnect=True),
    SavedHost("kvm2", "qemu+ssh://admin@kvm2/system", readonly=True),
]


def test_round_trip_keeps_order_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "kvmtui" / "hosts.toml"
    hostfile.save(HOSTS, path)
    assert hostfile.load(path) == HOSTS
    assert "[[host]]" in path.read_text()


def test_written_mode_0600_even_over_a_looser_file(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text("")
    path.chmod(0o644)
    hostfile.save(HOSTS, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_is_a_rename_leaving_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    hostfile.save(HOSTS[:1], path)
    before = path.stat().st_ino
    hostfile.save(HOSTS, path)
    assert path.stat().st_ino != before  # a new file renamed over the old one
    assert os.listdir(tmp_path) == ["hosts.toml"]


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "hosts.toml"
    hostfile.save(HOSTS[:1], path)
    old = path.read_bytes()

    def disk_full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(HostFileError, match=r"Cannot write .*No space left on device"):
        hostfile.save(HOSTS, path)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["hosts.toml"]  # the temporary file removed


def test_broken_file_is_reported_with_its_line_and_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    text = '[[host]]\nname = "a"\nuri = "qemu:///system"\nreadonly = flase\n'
    path.write_text(text)
    with pytest.raises(HostFileError, match=r"broken at line 4") as caught:
        hostfile.load(path)
    assert str(caught.value).count(".") >= 1 and "\n" not in str(caught.value)
    with pytest.raises(HostFileError, match=r"line 4"):
        hostfile.save(HOSTS, path)
    assert path.read_text() == text


def test_wrong_entry_names_the_host_and_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "hosts.toml"
    path.write_text('[[host]]\nname = "a"\nuri = "qemu:///nowhere"\n')
    with pytest.raises(HostFileError, match=r"host 1 \(a\): A qemu URI ends in /system"):
        hostfile.load(path)
    path.write_text('[[host]]\nname = "a"\nuri = "test:///default"\nautoconnect = "yes"\n')
    with pytest.raises(HostFileError, match="autoconnect must be true or false"):
        hostfile.load(path)


def test_missing_file_is_no_hosts(tmp_path: Path) -> None:
    assert hostfile.load(tmp_path / "none.toml") == []


def test_xdg_config_home_is_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert hostfile.default_path() == tmp_path / "cfg" / "kvmtui" / "hosts.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert hostfile.default_path() == tmp_path / ".config" / "kvmtui" / "hosts.toml"


@pytest.mark.parametrize(
    "uri",
    [
        "qemu:///system",
        "qemu:///session",
        "qemu+ssh://user@host/system",
        "qemu+ssh://user@host:2222/system?keyfile=/root/.ssh/id",
        "qemu+tcp://10.0.0.5/system",
        "qemu+tls://kvm1.example.org/system",
        "test:///default",
        "test:///srv/node.xml",
    ],
)
def test_libvirt_uri_forms_accepted(uri: str) -> None:
    assert hostfile.uri_problem(uri) is None


@pytest.mark.parametrize(
    ("uri", "sentence"),
    [
        ("", "Type a libvirt URI"),
        ("qemu/system", "is not a URI"),
        ("kvm:///system", "'kvm' is not a libvirt driver"),
        ("qemu+ftp://h/system", "'ftp' is not a libvirt transport"),
        ("qemu+ssh:///system", "needs a host name"),
        ("qemu+tcp://h:70000/system", "The port must be a number"),
        ("qemu:///sytem", "ends in /system or /session"),
        ("qemu:///system ", None),
        ("qemu:// /system", "no spaces"),
    ],
)
def test_bad_uris_get_one_sentence(uri: str, sentence: str | None) -> None:
    problem = hostfile.uri_problem(uri)
    if sentence is None:
        assert problem is None
        return
    assert problem is not None and sentence in problem
    assert problem.endswith(".") and "\n" not in problem


def test_names_checked_and_unique() -> None:
    assert hostfile.name_problem("kvm-1") is None
    assert hostfile.name_problem("") is not None
    assert hostfile.name_problem("a b") is not None
    assert hostfile.name_problem("kvm1", ["kvm1"]) == "A saved host is already named 'kvm1'."
