"""After creation, on the real daemon: a tiny guest booted with a cloud-init seed ISO
kvmtui built (its user-data names the user ``kvmadmin``) attached as a read-only virtio
disk beside its own disk, its agent up. One guest for the module.

- Its IP address comes from the agent (``interfaceAddresses`` SRC_AGENT): the test gives
  eth0 an address inside the guest (no traffic is sent anywhere); loopback and the
  link-local IPv6 are left out, and the ssh line carries the seed's user.
- Detaching the seed is refused on a read-only connection, changing nothing; then done:
  gone from the saved definition (and from the running guest, or said "until restart"),
  the volume kept. Then, the guest shut off and the seed attached again: asked to delete
  the volume, the detach keeps it while another guest names its file by path; x in its
  details asks twice and detaches it with its volume deleted.
- The seed watcher (backend/seed_watch.py) on the same guest, the seed attached again and
  the guest marked: with a ``cloud-init`` stand-in in the guest saying "running", it asks
  again later, and once the stand-in says "done" the seed goes (definition, mark) and
  the volume stays. Then, marked again with no ``cloud-init`` program in the guest (as
  the tiny guest is), it waits for the first shutdown and detaches the seed then.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from kvmtui.backend import cloudinit, seed
from kvmtui.backend.addresses import read_addresses, read_user
from kvmtui.backend.agent import GuestAgent
from kvmtui.backend.domain import Domain
from kvmtui.backend.domain.notes import SEED_DETACH_NAMESPACE, seed_detach_xml
from kvmtui.backend.domain.seed import add_seed_disk
from kvmtui.backend.errors import KvmtuiError, ReadOnlyError
from kvmtui.backend.host import Host
from kvmtui.backend.seed_detach import detach_seed, read_guest_seed
from kvmtui.backend.seed_watch import has_mark
from kvmtui.screens.confirm import ConfirmScreen
from kvmtui.screens.details import DetailsScreen
from kvmtui.tui.widgets.guest_addresses import GuestAddressesSection
from tests.conftest import TEST_GUEST_PREFIX
from tests.harness.guests import (
    AgentTimeout,
    define_guest,
    destroy_and_undefine,
    remove_disks,
    wait_for_agent,
)
from tests.harness.image import GuestImage
from tests.hosts import started_host
from tests.pilot import build_app, loaded, run_async, select
from tests.pilot import wait_for as wait_until
from tests.pools import dir_pool
from tests.seed_watching import watching
from tests.waiting import wait_for

pytestmark = pytest.mark.daemon

USER = "kvmadmin"
ADDRESS = "10.213.9.2"
AGENT_S = 90.0


def saved_xml(dom: libvirt.virDomain) -> str:
    return str(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


def attach_seed_to_definition(conn: libvirt.virConnect, dom: libvirt.virDomain, pool: str) -> None:
    domain = Domain.from_xml(saved_xml(dom))
    add_seed_disk(domain, pool, seed.seed_volume_name(dom.name()), "virtio")
    conn.defineXML(domain.to_xml())


@pytest.fixture(scope="module")
def seeded(
    daemon_uri: str, guest_image: GuestImage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[libvirt.virConnect, libvirt.virDomain, str, Path]]:
    """(connection, running tiny guest with its seed, pool name, pool folder)."""
    name = f"{TEST_GUEST_PREFIX}seed-{uuid.uuid4().hex[:8]}"
    conn = libvirt.open(daemon_uri)
    with dir_pool(daemon_uri, tmp_path_factory.mktemp("seed")) as (pool, target):
        spec = cloudinit.CloudInit(hostname="tiny", user=USER, ssh_keys=("ssh-ed25519 AAAA k",))
        (target / seed.seed_volume_name(name)).write_bytes(
            seed.build_iso(cloudinit.seed_files(spec))
        )
        conn.storagePoolLookupByName(pool).refresh(0)
        dom = define_guest(conn, name, guest_image, start=False)
        try:
            attach_seed_to_definition(conn, dom, pool)
            dom.create()
            try:
                wait_for_agent(dom, AGENT_S)
            except AgentTimeout as error:
                pytest.fail(str(error), pytrace=False)
            yield conn, dom, pool, target
        finally:
            with contextlib.suppress(libvirt.libvirtError):
                destroy_and_undefine(dom)
            remove_disks(name)
            conn.close()


@pytest.fixture(scope="module")
def host(daemon_uri: str) -> Iterator[Host]:
    with started_host(daemon_uri) as started:
        yield started


def test_addresses_come_from_the_agent_with_the_seeds_user_in_the_ssh_line(
    host: Host, seeded: tuple[libvirt.virConnect, libvirt.virDomain, str, Path]
) -> None:
    _conn, dom, _pool, _target = seeded
    found = read_guest_seed(host, dom.UUIDString())
    assert found is not None and found.volume == seed.seed_volume_name(dom.name())
    user = read_user(host, found)
    assert user == USER
    ran = GuestAgent(host, dom.UUIDString()).exec(
        ["ip", "addr", "add", f"{ADDRESS}/24", "dev", "eth0"]
    )
    assert ran.exit_code == 0, ran.summary
    addresses = wait_for(
        lambda: (a := read_addresses(host, dom.UUIDString(), user)).addresses and a,
        timeout=20, interval=0.5, what="the agent's address",
    )  # fmt: skip
    assert addresses.source == "agent"
    assert [a.text for a in addresses.addresses] == [f"{ADDRESS}/24"]  # no lo, no fe80::
    assert addresses.ssh_line == f"ssh {USER}@{ADDRESS}"


def test_detach_is_refused_read_only_then_done_and_the_volume_deleted_only_when_asked(
    daemon_uri: str,
    host: Host,
    seeded: tuple[libvirt.virConnect, libvirt.virDomain, str, Path],
) -> None:
    _conn, dom, _pool, target = seeded
    volume = seed.seed_volume_name(dom.name())
    before = saved_xml(dom)
    with started_host(daemon_uri, readonly=True) as readonly, pytest.raises(ReadOnlyError):
        detach_seed(readonly, dom.UUIDString())
    assert saved_xml(dom) == before

    sentence = detach_seed(host, dom.UUIDString())
    assert volume not in saved_xml(dom), "the seed is still in the saved definition"
    assert "removed from its definition" in sentence and "its volume is kept" in sentence
    live_gone = volume not in dom.XMLDesc(0)
    assert ("detached from the running guest" in sentence) == live_gone, sentence
    assert live_gone or "until the guest" in sentence, sentence
    assert (target / volume).exists()
    if live_gone:
        with pytest.raises(KvmtuiError, match="has no cloud-init seed"):
            detach_seed(host, dom.UUIDString())

    print(sentence)  # in the report of a -rP run: which way the live detach went


def shut_off_with_seed(conn: libvirt.virConnect, dom: libvirt.virDomain, pool: str) -> str:
    """The guest shut off with its seed in its definition again; the seed's volume name."""
    volume = seed.seed_volume_name(dom.name())
    if dom.isActive():
        dom.destroy()
    if volume not in saved_xml(dom):
        attach_seed_to_definition(conn, dom, pool)
    return volume


def test_the_volume_is_kept_when_another_guest_names_it_by_its_path(
    host: Host, seeded: tuple[libvirt.virConnect, libvirt.virDomain, str, Path]
) -> None:
    """Another guest has the seed's file as a CD-ROM by its path, not by pool and volume:
    asked to delete the volume, the detach keeps it and names that guest."""
    conn, dom, pool, target = seeded
    volume = shut_off_with_seed(conn, dom, pool)
    other = f"{TEST_GUEST_PREFIX}by-path-{uuid.uuid4().hex[:6]}"
    by_path = conn.defineXML(
        f"<domain type='qemu'><name>{other}</name><memory unit='MiB'>64</memory>"
        "<os><type>hvm</type></os><devices><disk type='file' device='cdrom'>"
        f"<source file='{target / volume}'/><target dev='hdc' bus='ide'/><readonly/>"
        "</disk></devices></domain>"
    )
    try:
        sentence = detach_seed(host, dom.UUIDString(), delete_volume=True)
    finally:
        by_path.undefine()
    assert f"its volume is kept: {other} use it too." in sentence, sentence
    assert (target / volume).exists() and volume not in saved_xml(dom)


@run_async
async def test_x_in_the_details_asks_then_detaches_and_deletes_the_volume(
    daemon_uri: str, seeded: tuple[libvirt.virConnect, libvirt.virDomain, str, Path]
) -> None:
    """The guest shut off, its seed attached again: x in its details asks to detach, then
    whether to delete the volume; both answered yes, the seed and its volume are gone."""
    conn, dom, pool, target = seeded
    volume = shut_off_with_seed(conn, dom, pool)
    app = build_app(daemon_uri, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        await select(pilot, screen.table, dom.name())
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailsScreen), "details")
        details = app.screen
        assert isinstance(details, DetailsScreen)
        await wait_until(pilot, lambda: details.seed is not None, "the seed read")
        section = details.query_one(GuestAddressesSection)
        await wait_until(pilot, lambda: section.addresses is not None, "the addresses read")
        assert section.display and "not running" in str(section.render_guest(details.guest))
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert "Detach the cloud-init seed" in app.screen.question  # type: ignore[attr-defined]
        await pilot.press("y")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, ConfirmScreen)
            and "Also delete the seed volume" in app.screen.question,
            "the volume question",
        )
        await pilot.press("y")
        await wait_until(pilot, lambda: not (target / volume).exists(), "the volume deleted")
        await wait_until(pilot, lambda: details.seed is None, "the seed gone from the details")
    assert volume not in saved_xml(dom)


def seed_and_mark(
    conn: libvirt.virConnect, dom: libvirt.virDomain, pool: str, target: Path
) -> None:
    """The seed volume made again (the test above deleted it), in the saved definition,
    and the guest's definition marked as the wizard marks it."""
    volume = target / seed.seed_volume_name(dom.name())
    if not volume.exists():
        spec = cloudinit.CloudInit(hostname="tiny", user=USER)
        volume.write_bytes(seed.build_iso(cloudinit.seed_files(spec)))
        conn.storagePoolLookupByName(pool).refresh(0)
    if volume.name not in saved_xml(dom):
        attach_seed_to_definition(conn, dom, pool)
    dom.setMetadata(
        libvirt.VIR_DOMAIN_METADATA_ELEMENT, seed_detach_xml(), "kvmtui", SEED_DETACH_NAMESPACE,
        libvirt.VIR_DOMAIN_AFFECT_CONFIG,
    )  # fmt: skip
    assert has_mark(dom)


#: A stand-in for cloud-init in the tiny guest: "running" until /tmp/ci-done exists.
STAND_IN = (
    "printf '#!/bin/sh\\n[ -e /tmp/ci-done ] && echo \"status: done\" "
    "|| echo \"status: running\"\\n' >/bin/cloud-init && chmod +x /bin/cloud-init"
)


def test_the_watcher_asks_again_while_cloud_init_runs_then_detaches_the_seed(
    host: Host, seeded: tuple[libvirt.virConnect, libvirt.virDomain, str, Path]
) -> None:
    conn, dom, pool, target = seeded
    uuid_ = dom.UUIDString()
    volume = seed.seed_volume_name(dom.name())
    if dom.isActive():
        dom.destroy()
    seed_and_mark(conn, dom, pool, target)
    dom.create()
    try:
        wait_for_agent(dom, AGENT_S)
    except AgentTimeout as error:
        pytest.fail(str(error), pytrace=False)
    agent = GuestAgent(host, uuid_)
    installed = agent.exec(["/bin/sh", "-c", STAND_IN])
    assert installed.exit_code == 0, installed.summary
    assert "status: running" in agent.exec(["cloud-init", "status"]).stdout
    with watching(host) as (watcher, said):
        wait_for(lambda: (watcher.doing(uuid_) or "").startswith("cloud-init is running"),
                 timeout=30, interval=0.1, what="the watcher to hear 'running'")  # fmt: skip
        assert not said and volume in saved_xml(dom)
        assert agent.exec(["touch", "/tmp/ci-done"]).exit_code == 0
        wait_for(lambda: said, timeout=30, interval=0.1, what="the watcher's sentence")
    assert "ended (cloud-init status: done)" in said[0] and "its volume is kept" in said[0], said
    assert volume not in saved_xml(dom) and not has_mark(dom)
    assert (target / volume).exists()
    assert watcher.doing(uuid_) is None
    print(said[0])  # in the report of a -rP run: whether the live detach went


def test_without_cloud_init_the_first_shutdown_detaches_the_seed(
    host: Host, seeded: tuple[libvirt.virConnect, libvirt.virDomain, str, Path]
) -> None:
    conn, dom, pool, target = seeded
    uuid_ = dom.UUIDString()
    volume = seed.seed_volume_name(dom.name())
    assert dom.isActive()
    agent = GuestAgent(host, uuid_)
    assert agent.exec(["rm", "-f", "/bin/cloud-init"]).exit_code == 0
    seed_and_mark(conn, dom, pool, target)
    with watching(host) as (watcher, said):
        wait_for(lambda: (watcher.doing(uuid_) or "").startswith("waiting for the first shutdown"),
                 timeout=30, interval=0.1, what="the watcher to give up asking")  # fmt: skip
        assert not said and volume in saved_xml(dom) and has_mark(dom)
        agent.shutdown()
        wait_for(lambda: said, timeout=60, interval=0.1, what="the watcher's sentence")
    assert "ended (it shut down)" in said[0], said
    print(said[0])
    assert volume not in saved_xml(dom) and not has_mark(dom)
    assert (target / volume).exists()
