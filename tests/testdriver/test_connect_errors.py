"""Connect failures in one sentence each (backend/reach.py), on loopback only.

Refused and timeout are produced for real (ssh to a port nobody listens on; a socket that
accepts and never answers). Unknown host key and no key need an sshd: their texts below
are libvirt's, recorded through libvirt 9.0 and OpenSSH 9.2 against an sshd on
127.0.0.1 with ``no_tty=1`` (BatchMode: no password prompt, 0.08-0.18 s to fail).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import libvirt
import pytest

from kvmtui.backend import reach
from kvmtui.backend.host import Host
from kvmtui.backend.model import ConnectionState

HOST_KEY = "Cannot recv data: Host key verification failed.: Connection reset by peer"
NO_KEY = (
    "Cannot recv data: Warning: Permanently added '[127.0.0.1]:2298' (ED25519) to the list "
    "of known hosts.\r\nroot@127.0.0.1: Permission denied (publickey,password,"
    "keyboard-interactive).: Connection reset by peer"
)
URI = "qemu+ssh://root@127.0.0.1:2298/system"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        yield int(s.getsockname()[1])


def test_unknown_host_key_sentence() -> None:
    text = reach.connect_sentence(HOST_KEY, "kvm2", URI)
    assert text.startswith("Cannot connect to kvm2: ssh does not know the host key")
    assert "127.0.0.1:2298" in text and text.count(". ") == 0


def test_no_key_sentence_says_no_password_is_asked() -> None:
    text = reach.connect_sentence(NO_KEY, "kvm2", URI)
    assert "ssh has no key that 127.0.0.1:2298 accepts" in text
    assert "never asks for a password" in text and "\n" not in text


def test_refused_on_loopback_is_one_sentence() -> None:
    uri = f"qemu+ssh://root@127.0.0.1:{free_port()}/system"
    with pytest.raises(libvirt.libvirtError) as caught:
        reach.open_connection(uri, readonly=True, timeout=10)
    text = reach.connect_sentence(caught.value.get_error_message(), "lab", uri)
    assert text == (
        f"Cannot connect to lab: 127.0.0.1:{uri.split(':')[2].split('/')[0]} refused the "
        "connection; is its daemon up?"
    )


def test_silent_host_times_out_without_blocking(silent_port: int) -> None:
    uri = f"qemu+ssh://root@127.0.0.1:{silent_port}/system"
    started = time.monotonic()
    with pytest.raises(reach.ConnectTimeout):
        reach.open_connection(uri, readonly=True, timeout=1.0)
    assert time.monotonic() - started < 3.0


def test_host_status_shows_the_refusal_sentence() -> None:
    uri = f"qemu+tcp://127.0.0.1:{free_port()}/system"
    host = Host(uri, label="lab", retry_delays=(3600.0,))
    host.start()
    try:
        deadline = time.monotonic() + 10
        while host.status.state is not ConnectionState.DISCONNECTED:
            assert time.monotonic() < deadline, host.status
            time.sleep(0.02)
        assert host.status.error is not None
        assert host.status.error.endswith("refused the connection; is its daemon up?")
    finally:
        host.stop()
