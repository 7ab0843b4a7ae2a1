"""A seed watcher (backend/seed_watch.py) on a started test host, fed by the host's
changes as the app feeds it, with what it said; stopped afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from kvmtui.backend.host import Host
from kvmtui.backend.seed_watch import SeedWatcher


@contextlib.contextmanager
def watching(host: Host, ask_again_s: float = 0.5) -> Iterator[tuple[SeedWatcher, list[str]]]:
    said: list[str] = []
    watcher = SeedWatcher(host, lambda text, _failed: said.append(text), ask_again_s=ask_again_s)
    host.set_listener(watcher.observe)
    watcher.start()
    try:
        yield watcher, said
    finally:
        host.set_listener(None)
        watcher.stop()
