"""Host labels, the URIs actually opened, and error sentences."""

from __future__ import annotations

import libvirt
import pytest

from kvmtui.backend import errors
from kvmtui.backend.uri import (
    connect_uri,
    default_uri,
    is_remote,
    label_for,
    split_label,
    unique_labels,
)


@pytest.mark.parametrize(
    ("uri", "label"),
    [
        ("qemu:///system", "localhost"),
        ("qemu:///session", "localhost (session)"),
        ("qemu+ssh://root@kvm1.example/system", "kvm1.example"),
        ("qemu+tcp://127.0.0.1:16509/system", "127.0.0.1:16509"),
        ("test:///default", "test:default"),
        ("test:///srv/nodes/lab.xml", "test:lab"),
        (None, "localhost"),
    ],
)
def test_labels(uri: str | None, label: str) -> None:
    assert label_for(uri) == label


def test_named_uri() -> None:
    assert split_label("lab=qemu+ssh://root@h/system") == ("lab", "qemu+ssh://root@h/system")
    assert split_label("qemu:///system") == (None, "qemu:///system")
    # An '=' inside the query is not a label.
    assert split_label("qemu+ssh://h/system?keyfile=/k") == (None, "qemu+ssh://h/system?keyfile=/k")


def test_unique_labels() -> None:
    assert unique_labels(["a", "b", "a", "a"]) == ["a", "b", "a (2)", "a (3)"]


def test_ssh_never_prompts_on_our_terminal() -> None:
    assert connect_uri("qemu+ssh://root@h/system") == "qemu+ssh://root@h/system?no_tty=1"
    assert connect_uri("qemu+ssh://h/system?no_tty=0") == "qemu+ssh://h/system?no_tty=0"
    assert connect_uri("qemu+tcp://h/system") == "qemu+tcp://h/system"
    assert connect_uri("qemu:///system") == "qemu:///system"


def test_remote_detection() -> None:
    assert is_remote("qemu+tcp://127.0.0.1/system")
    assert is_remote("qemu+ssh://h/system")
    assert not is_remote("qemu:///system")
    assert not is_remote(None)


def test_default_uri_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", "test:///default")
    assert default_uri() == "test:///default"
    monkeypatch.delenv("LIBVIRT_DEFAULT_URI")
    assert default_uri() is None


def test_libvirt_error_becomes_one_sentence_with_a_hint() -> None:
    conn = libvirt.open("test:///default")
    try:
        with pytest.raises(libvirt.libvirtError) as info:
            conn.lookupByName("nope")
        err = errors.from_libvirt(info.value, host="test:default", action="start", guest="nope")
    finally:
        conn.close()
    assert isinstance(err, errors.GuestNotFoundError)
    text = str(err)
    assert text.startswith("Could not start guest 'nope' on test:default: ")
    assert text.endswith("it may have been undefined elsewhere.")
    assert "\n" not in text and "Traceback" not in text


def test_read_only_sentence_says_how_to_get_write_access() -> None:
    err = errors.read_only(host="h", action="force off", guest="g")
    assert str(err) == (
        "Could not force off guest 'g' on h: the connection is read-only. "
        "Start kvmtui without -r/--readonly to make changes."
    )
