"""A host that accepts the connection and never answers (a hung link or daemon).

Uses only loopback: a listener on 127.0.0.1 that takes the TCP connection and says
nothing, so libvirt's open blocks inside the host's own thread.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from kvmtui.backend.model import ConnectionState, GuestState
from tests.pilot import build_app, row_state, run_async, screen_of, wait_for


@pytest.fixture
def silent_uri() -> Iterator[str]:
    """qemu+tcp:// to a port that accepts and never replies; closed after the test."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"qemu+tcp://127.0.0.1:{server.getsockname()[1]}/system"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


@run_async
async def test_a_hung_host_neither_stalls_the_others_nor_quitting(
    silent_uri: str, test_node_uri: str
) -> None:
    app = build_app(
        silent_uri, test_node_uri, stats=False, clock=time.time, retry_delays=None
    )
    app.animation_level = "none"
    async with app.run_test(size=(120, 30)) as pilot:
        hung, node = app.hosts
        await wait_for(pilot, lambda: node.status.state is ConnectionState.CONNECTED, "node")
        screen = screen_of(app)
        await wait_for(pilot, lambda: screen.table.row_count == 13, "the node's guests")
        assert row_state(screen.table, "web-frontend-1", node.label) is GuestState.RUNNING
        assert hung.status.state is ConnectionState.CONNECTING
        line = screen.status_bar.line(hung.label)
        assert line is not None and "connecting" in str(line.content)
        quit_started = time.monotonic()
    took = time.monotonic() - quit_started
    assert took < 4.0, f"quitting waited {took:.1f} s for the hung host"
