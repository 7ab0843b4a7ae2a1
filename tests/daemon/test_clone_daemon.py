"""Clones on the real daemon (run under the daemon lock): one shut-off source guest whose
disk is a qcow2 volume in a test pool; a full and a linked clone of it both boot with new
UUIDs and MACs; writing in the linked clone leaves the base's checksum unchanged;
starting the source while the linked clone depends on it asks first; a running guest
and a read-only connection are refused; a cancel halfway leaves nothing behind."""

from __future__ import annotations

import hashlib
import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import libvirt
import pytest

from kvmtui.backend import clone, clone_job, lifecycle
from kvmtui.backend.agent import GuestAgent
from kvmtui.backend.domain import Domain
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobRegistry, JobState, JobView
from kvmtui.screens.confirm import ConfirmScreen
from tests.conftest import TEST_GUEST_PREFIX
from tests.harness.guests import (
    GuestFactory,
    destroy_and_undefine,
    domain_type,
    guest_xml,
    wait_for_agent,
)
from tests.harness.image import GuestImage
from tests.hosts import started_host
from tests.pilot import build_app, loaded, run_async, select, wait_for
from tests.pools import dir_pool

pytestmark = [pytest.mark.daemon, pytest.mark.guest]

JOB_S = 120.0


@dataclass(frozen=True)
class Source:
    dom: libvirt.virDomain
    pool: str
    folder: Path
    disk: Path


@pytest.fixture(scope="module")
def host(daemon_uri: str) -> Iterator[Host]:
    with started_host(daemon_uri) as started:
        yield started


def _name() -> str:
    return f"{TEST_GUEST_PREFIX}{uuidlib.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def source(
    daemon_uri: str, guest_image: GuestImage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Source]:
    """A shut-off tiny guest whose data disk is a 64 MiB qcow2 volume of a test pool;
    every guest named like it (its clones) goes at the end."""
    conn = libvirt.open(daemon_uri)
    name = _name()
    with dir_pool(daemon_uri, tmp_path_factory.mktemp("clone")) as (pool_name, folder):
        pool = conn.storagePoolLookupByName(pool_name)
        vol = pool.createXML(
            f"<volume><name>{name}.qcow2</name><capacity unit='MiB'>64</capacity>"
            "<target><format type='qcow2'/></target></volume>", 0
        )  # fmt: skip
        xml = guest_xml(
            name, guest_image, domain_type=domain_type(conn, guest_image), memory_mib=192,
            vcpus=1, disk=Path(vol.path()),
        )  # fmt: skip
        dom = conn.defineXML(xml)
        try:
            yield Source(dom, pool_name, folder, Path(vol.path()))
        finally:
            for other in conn.listAllDomains(0):
                if other.name().startswith(name):
                    destroy_and_undefine(other)
            conn.close()


def _clone(host: Host, src: Source, name: str, mode: clone.Mode) -> JobView:
    jobs = JobRegistry()
    view = clone_job.start_clone(jobs, host, src.dom.UUIDString(), clone.CloneRequest(name, mode))
    done = jobs.wait(view.id, timeout=JOB_S)
    assert done is not None, "the clone job did not end"
    return done


@pytest.fixture(scope="module")
def clones(host: Host, source: Source) -> tuple[libvirt.virDomain, libvirt.virDomain]:
    """A full and a linked clone of the shut-off source, made by the job."""
    base = source.dom.name()
    full = _clone(host, source, f"{base}-full", clone.Mode.FULL)
    assert full.state is JobState.DONE, full.outcome
    linked = _clone(host, source, f"{base}-linked", clone.Mode.LINKED)
    assert linked.state is JobState.DONE, linked.outcome
    conn = host.connection()
    return conn.lookupByName(f"{base}-full"), conn.lookupByName(f"{base}-linked")


def _saved(dom: libvirt.virDomain) -> Domain:
    return Domain.from_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_full_and_linked_clones_boot_with_new_uuids_and_macs_and_the_base_stays(
    host: Host, source: Source, clones: tuple[libvirt.virDomain, libvirt.virDomain]
) -> None:
    full, linked = clones
    src = _saved(source.dom)
    models = [src, _saved(full), _saved(linked)]
    assert len({m.uuid for m in models}) == 3
    assert len({m.interfaces[0].mac for m in models}) == 3
    assert src.interfaces[0].target is not None
    assert all(m.interfaces[0].target is None for m in models[1:])  # the tap is named anew
    full_disk, linked_disk = (Path(m.disks[0].source_text or "") for m in models[1:])
    assert full_disk.parent == linked_disk.parent == source.folder
    assert len({source.disk, full_disk, linked_disk}) == 3
    overlay = host.connection().storageVolLookupByPath(str(linked_disk)).XMLDesc(0)
    assert f"<path>{source.disk}</path>" in overlay  # backed by the source's disk
    base_before = _sha256(source.disk)
    overlay_before = _sha256(linked_disk)

    full.create()
    linked.create()
    wait_for_agent(full, 90)
    wait_for_agent(linked, 90)
    agent = GuestAgent(host, linked.UUIDString(), limit_s=20.0)
    wrote = agent.exec(
        ["/bin/sh", "-c", "dd if=/dev/urandom of=/dev/vda bs=64k count=16 && sync"], 30
    )
    assert wrote.finished and wrote.exit_code == 0, wrote

    assert _sha256(source.disk) == base_before
    assert _sha256(linked_disk) != overlay_before

    refused = _clone(host, Source(linked, source.pool, source.folder, linked_disk),
                     f"{linked.name()}-again", clone.Mode.FULL)  # fmt: skip
    assert refused.state is JobState.FAILED
    assert refused.outcome is not None and "it is running" in refused.outcome
    assert refused.outcome.endswith("shut it down first.")

    linked.suspend()  # paused: a full copy is allowed (after the form's warning)
    paused = _clone(host, Source(linked, source.pool, source.folder, linked_disk),
                    f"{linked.name()}-paused", clone.Mode.FULL)  # fmt: skip
    assert paused.state is JobState.DONE, paused.outcome
    assert linked.state()[0] == libvirt.VIR_DOMAIN_PAUSED
    assert _saved(linked).disks[0].source_text == str(linked_disk)  # no pivot
    copy = host.connection().lookupByName(f"{linked.name()}-paused")
    assert Path(_saved(copy).disks[0].source_text or "").exists()
    for dom in (full, linked):
        dom.destroy()


@run_async
async def test_starting_the_source_of_a_linked_clone_asks_first(
    daemon_uri: str, host: Host, source: Source, clones: tuple[libvirt.virDomain, ...]
) -> None:
    linked_name = clones[1].name()
    with pytest.raises(lifecycle.BaseInUseError) as refused:
        lifecycle.start(host, source.dom.UUIDString())
    assert refused.value.clones == (linked_name,)
    assert not source.dom.isActive()

    app = build_app(daemon_uri, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await loaded(pilot)
        await select(pilot, screen.table, source.dom.name())
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question", 20)
        assert isinstance(app.screen, ConfirmScreen)
        assert linked_name in app.screen.question
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen, "the list again")
    assert not source.dom.isActive()


def test_read_only_connection_is_refused_before_libvirt(
    daemon_uri: str, source: Source
) -> None:
    with started_host(daemon_uri, readonly=True) as ro:
        done = _clone(ro, source, f"{source.dom.name()}-ro", clone.Mode.FULL)
    assert done.state is JobState.FAILED
    assert done.outcome is not None and "read-only" in done.outcome
    names = [d.name() for d in libvirt.open(daemon_uri).listAllDomains(0)]
    assert f"{source.dom.name()}-ro" not in names


def test_a_cancel_halfway_removes_the_copied_volume(host: Host, source: Source) -> None:
    name = f"{source.dom.name()}-cancelled"
    jobs = JobRegistry()
    asked: list[int] = []

    def cancel_while_copying(view: JobView) -> None:
        if view.phase.startswith("copying") and not asked:
            asked.append(view.id)
            jobs.cancel(view.id)  # taken at the next step, once the copy has ended

    jobs.add_listener(cancel_while_copying)
    view = clone_job.start_clone(jobs, host, source.dom.UUIDString(), clone.CloneRequest(name))
    done = jobs.wait(view.id, timeout=JOB_S)

    assert done is not None and done.state is JobState.CANCELLED, done
    assert done.outcome is not None and f"Removed the volume '{name}.qcow2'" in done.outcome
    pool = host.connection().storagePoolLookupByName(source.pool)
    pool.refresh(0)
    assert f"{name}.qcow2" not in pool.listVolumes()
    assert not (source.folder / f"{name}.qcow2").exists()
    assert name not in [d.name() for d in host.connection().listAllDomains(0)]


def test_a_disk_in_no_pool_is_refused_with_what_to_do(
    host: Host, guest_factory: GuestFactory
) -> None:
    """The harness's own guests keep their disks in a folder no pool covers."""
    dom = guest_factory(start=False)
    before = {d.name() for d in host.connection().listAllDomains(0)}
    refused = _clone(host, Source(dom, "", Path(), Path()), f"{dom.name()}-x", clone.Mode.FULL)
    assert refused.state is JobState.FAILED
    assert refused.outcome is not None
    assert "is in no storage pool; define a pool over its folder" in refused.outcome
    assert {d.name() for d in host.connection().listAllDomains(0)} == before
