"""The seed watcher on libvirt's test:/// driver (no agent, no device detach there): a
guest defined with the wizard's seed-detach mark, started and then shut down. The
driver refuses the detach, so the failure path shows: one sentence, the mark kept, one
more try, then the guest is left alone (no loop). In the app: a watcher for each
read-write host once the list is drawn, none for a read-only one, and the watcher's
sentence shown as an error notification."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from kvmtui.backend.create_spec import NewGuest, SeedSpec, VolumeRef, domain_xml
from kvmtui.backend.host import Host
from kvmtui.backend.seed_watch import FirstBoot, SeedWatcher, has_mark
from tests.hosts import started_host
from tests.pilot import build_app, loaded, run_async, wait_for
from tests.seed_watching import watching
from tests.waiting import wait_for as wait_until

URI = f"test://{(Path(__file__).parents[1] / 'data' / 'storage-node.xml').resolve()}"


def define_marked(conn: libvirt.virConnect, name: str) -> libvirt.virDomain:
    seed = SeedSpec(VolumeRef("images", f"{name}-cidata.iso"), detach_after_first_boot=True)
    dom = conn.defineXML(domain_xml(NewGuest(name, seed=seed)))
    assert has_mark(dom)
    return dom


@pytest.fixture
def host() -> Iterator[Host]:
    with started_host(URI) as started:
        yield started


def test_a_refused_detach_is_said_tried_once_more_then_left_with_its_mark(host: Host) -> None:
    dom = define_marked(host.connection(), "marked")
    with watching(host, ask_again_s=0.2) as (watcher, said):
        dom.create()
        uuid = dom.UUIDString()
        wait_until(lambda: watcher.doing(uuid), timeout=10, what="the marked guest watched")
        dom.shutdown()  # the guest's own shutdown: its first boot ended
        wait_until(lambda: len(said) == 2, timeout=10, what="the retry's sentence")
        wait_until(lambda: watcher.doing(uuid) is None, timeout=10, what="the guest left")
    first, second = said
    assert first.startswith("Could not detach the seed after the first boot: ") and (
        "not supported" in first and first.endswith("Tried once more in 0.2 s.")
    ), first
    assert second.endswith("Left for now: x in the guest's details detaches it."), second
    assert has_mark(dom) and "marked-cidata.iso" in dom.XMLDesc(0)


def test_a_forced_power_off_is_not_the_end_of_the_first_boot(host: Host) -> None:
    dom = define_marked(host.connection(), "forced")
    with watching(host, ask_again_s=0.2) as (watcher, said):
        dom.create()
        uuid = dom.UUIDString()
        wait_until(lambda: watcher.doing(uuid), timeout=10, what="the marked guest watched")
        dom.destroy()
        wait_until(
            lambda: watcher.doing(uuid) == "waiting for the guest to start again",
            timeout=10, what="the watcher to see the power-off",
        )  # fmt: skip
    assert not said and has_mark(dom)


def test_a_shutdown_while_cloud_init_still_ran_keeps_the_seed_for_the_next_boot(
    host: Host,
) -> None:
    """The admin shuts the guest down while cloud-init still installs packages: the
    first boot did not end, so nothing is detached and the next boot is watched again.
    (No agent on test:///: cloud-init's answer "running" is given to the watch as
    :meth:`SeedWatcher._ask` would record it.)"""
    dom = define_marked(host.connection(), "interrupted")
    with watching(host, ask_again_s=0.2) as (watcher, said):
        dom.create()
        uuid = dom.UUIDString()
        wait_until(lambda: watcher.doing(uuid), timeout=10, what="the marked guest watched")
        with watcher._lock:
            watcher._watched[uuid].last = FirstBoot.RUNNING
        dom.shutdown()
        wait_until(
            lambda: watcher.doing(uuid)
            == "cloud-init still ran when the guest shut down: watching its next boot",
            timeout=10, what="the watcher to keep the seed",
        )  # fmt: skip
    assert not said and has_mark(dom) and "interrupted-cidata.iso" in dom.XMLDesc(0)


def test_a_read_only_host_is_never_watched() -> None:
    with started_host(URI, readonly=True) as readonly:
        watcher = SeedWatcher(readonly, print)
        watcher.start()
        assert watcher._thread is None  # no thread, so nothing is ever read or changed


@run_async
async def test_the_app_watches_read_write_hosts_and_shows_what_the_watcher_says() -> None:
    app = build_app(URI, stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        host = app.hosts[0]
        await wait_for(pilot, lambda: host.label in (app._seed_watchers or {}), "a watcher")
        dom = define_marked(host.connection(), "shown")
        dom.create()
        watcher = (app._seed_watchers or {})[host.label]
        await wait_for(pilot, lambda: watcher.doing(dom.UUIDString()), "the guest watched")
        dom.shutdown()

        def shown() -> bool:
            return any(
                n.message.startswith("Could not detach the seed after the first boot")
                and n.severity == "error"
                for n in app._notifications
            )

        await wait_for(pilot, shown, "the watcher's sentence on screen")
    assert not app._seed_watchers  # stopped with the app


@run_async
async def test_a_read_only_app_has_no_watcher() -> None:
    app = build_app(URI, readonly=True, stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: app._seed_watchers is not None, "start-up over")
        assert app._seed_watchers == {}
