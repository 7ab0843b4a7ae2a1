"""Snapshots on the real daemon with real tiny guests (run under the daemon lock):
internal with memory as a job with progress, and revert; a quiesced external disk-only
snapshot through the answering agent; delete alone, with children and metadata only;
external disk-only overlays and the external-revert gate."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from kvmtui.backend import snapshots
from kvmtui.backend.agent import GuestAgent
from kvmtui.backend.domain import Domain
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobRegistry, JobState
from kvmtui.backend.snapshots import DeleteMode, Kind, RevertTo, SnapshotRequest
from kvmtui.screens.snapshot_forms import RevertScreen
from kvmtui.screens.snapshots import SnapshotsScreen
from tests.harness.guests import GuestFactory, disk_path, wait_for_agent
from tests.hosts import started_host
from tests.pilot import build_app, connected_host, run_async, wait_for

pytestmark = [pytest.mark.daemon, pytest.mark.guest]

MARK = "/kvmtui-after-snapshot"


@pytest.fixture
def host(daemon_uri: str) -> Iterator[Host]:
    with started_host(daemon_uri) as started:
        yield started


def _file_exists(agent: GuestAgent, path: str) -> bool:
    result = agent.exec(["/bin/sh", "-c", f"test -e {path}"], limit_s=10)
    assert result.finished, result
    return result.exit_code == 0


def test_internal_snapshot_with_memory_then_revert_loses_a_file(
    host: Host, booted_guest: libvirt.virDomain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snapshot with memory is a job whose phase tells how the save goes; after the
    revert, an external disk-only snapshot is quiesced through the answering agent."""
    uuid = booted_guest.UUIDString()
    tree = snapshots.read_tree(host, uuid)
    assert tree.running and tree.offer.internal is None and tree.offer.memory is None
    assert tree.offer.quiesce is None  # the agent answers: quiesce is offered
    monkeypatch.setattr(snapshots, "PROGRESS_EVERY_S", 0.05)  # a tiny guest saves fast
    jobs = JobRegistry()
    phases: list[str] = []
    jobs.add_listener(lambda seen: phases.append(seen.phase))
    view = snapshots.start_create(jobs, host, uuid, SnapshotRequest("before", "clean boot"))
    done = jobs.wait(view.id, timeout=120)
    assert done is not None and done.state is JobState.DONE, done
    assert any(phase.startswith("saving memory") for phase in phases), phases
    assert done.outcome is not None and "with memory" in done.outcome
    made = snapshots.read_tree(host, uuid).snapshot("before")
    assert made is not None
    assert (made.name, made.memory, made.state, made.description) == (
        "before", True, "running", "clean boot"
    )
    assert made.current and not made.external
    agent = GuestAgent(host, uuid, limit_s=10.0)
    agent.exec(["/bin/sh", "-c", f"echo written after the snapshot > {MARK}"], limit_s=10)
    assert _file_exists(agent, MARK)

    snapshots.revert(host, uuid, "before", RevertTo.RUNNING)

    assert booted_guest.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    wait_for_agent(booted_guest, 60)
    assert not _file_exists(agent, MARK)

    quiesced = snapshots.create(
        host, uuid, SnapshotRequest("frozen", "", Kind.EXTERNAL, quiesce=True)
    )
    assert (quiesced.external, quiesced.memory, quiesced.state) == (True, False, "disk-only")
    assert booted_guest.state()[0] == libvirt.VIR_DOMAIN_RUNNING


def _image_snapshots(image: Path) -> str:
    """What ``qemu-img snapshot -l`` lists inside the (shut-off guest's) image."""
    listed = subprocess.run(
        ["qemu-img", "snapshot", "-l", "-U", str(image)],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return listed.stdout


def test_delete_one_with_children_and_metadata_only(
    host: Host, guest_factory: GuestFactory
) -> None:
    """Alone: its child moves up to its parent; with children: the branch goes; metadata
    only: libvirt forgets it and the internal snapshot stays inside the qcow2 image."""
    dom = guest_factory(start=False)
    uuid = dom.UUIDString()
    for name in ("parent", "middle", "child"):
        snapshots.create(host, uuid, SnapshotRequest(name))
    tree = snapshots.read_tree(host, uuid)
    assert [(s.name, s.parent, s.depth) for s in tree.snapshots] == [
        ("parent", None, 0), ("middle", "parent", 1), ("child", "middle", 2)
    ]  # fmt: skip
    assert tree.snapshots[0].state == "shut off" and not tree.snapshots[0].memory

    snapshots.delete(host, uuid, "middle", DeleteMode.ONE)

    tree = snapshots.read_tree(host, uuid)
    assert [(s.name, s.parent, s.depth) for s in tree.snapshots] == [
        ("parent", None, 0), ("child", "parent", 1)
    ]  # fmt: skip
    with pytest.raises(snapshots.SnapshotValueError, match="it has no children"):
        snapshots.delete(host, uuid, "child", DeleteMode.CHILDREN)

    snapshots.delete(host, uuid, "parent", DeleteMode.CHILDREN)

    assert snapshots.read_tree(host, uuid).snapshots == ()
    assert dom.snapshotNum(0) == 0
    assert "parent" not in _image_snapshots(disk_path(dom.name()))

    snapshots.create(host, uuid, SnapshotRequest("kept"))
    snapshots.delete(host, uuid, "kept", DeleteMode.METADATA)

    assert dom.snapshotNum(0) == 0
    assert "kept" in _image_snapshots(disk_path(dom.name()))


def test_external_disk_only_on_shut_off_guest_makes_an_overlay(
    host: Host, guest_factory: GuestFactory
) -> None:
    dom = guest_factory(start=False)
    uuid = dom.UUIDString()
    base = disk_path(dom.name())
    tree = snapshots.read_tree(host, uuid)
    assert tree.offer.external is None

    made = snapshots.create(host, uuid, SnapshotRequest("ext", "", Kind.EXTERNAL))

    assert made.external and not made.memory and made.state == "shut off"  # as libvirt says
    disk = Domain.from_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).disk("vda")
    assert disk is not None and disk.source_text is not None
    overlay = Path(disk.source_text)
    assert overlay != base and overlay.exists() and base.exists()
    # The gate: libvirt before 9.9 cannot revert to an external snapshot.
    gate = snapshots.read_tree(host, uuid)
    if host.connection().getLibVersion() < snapshots.EXTERNAL_REVERT_MIN:
        assert gate.revert_reason(made) is not None and "9.9" in gate.revert_reason(made)
        with pytest.raises(snapshots.SnapshotValueError, match=r"needs libvirt 9\.9"):
            snapshots.revert(host, uuid, "ext", RevertTo.PAUSED)
        assert dom.snapshotCurrent(0).getName() == "ext"
    else:
        assert gate.revert_reason(made) is None


@run_async
async def test_external_revert_gate_in_the_screen(
    daemon_uri: str, guest_factory: GuestFactory
) -> None:
    """The screen offers no revert of an external snapshot on libvirt 9.0: v is disabled
    with the sentence, and pressing it asks nothing."""
    dom = guest_factory(start=False)
    uuid = dom.UUIDString()
    app = build_app(daemon_uri, stats=False)
    async with app.run_test(size=(120, 40)) as pilot:
        host = await connected_host(pilot, uuid)
        snapshots.create(host, uuid, SnapshotRequest("ext", "", Kind.EXTERNAL))
        screen = SnapshotsScreen(host, uuid, dom.name())
        await app.push_screen(screen)
        await wait_for(pilot, lambda: screen.loads >= 1, "the snapshots", 20)
        assert screen.selected is not None and screen.selected.name == "ext"
        if host.connection().getLibVersion() >= snapshots.EXTERNAL_REVERT_MIN:
            assert screen.disabled_reason("revert") is None
            return
        reason = screen.disabled_reason("revert")
        assert reason is not None and "needs libvirt 9.9" in reason
        assert "Revert to external snapshots: not offered" in screen.offer_text()
        await pilot.press("v")
        await pilot.pause()
        assert not isinstance(app.screen, RevertScreen)
