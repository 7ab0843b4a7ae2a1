"""Creating guests on the real daemon: the tiny guest made from an overlay on an image
boots to its shell and leaves the image unchanged; each refusal creates nothing; a
failure at each step of the job (volumes, seed, definition, start) leaves nothing.

The tiny guest's root is its initramfs (tests/harness/image.py): it boots by direct
kernel boot, which the spec allows (``DirectBoot``, virt-install's ``--boot kernel=``);
its disk is a small qcow2 volume in a test pool, imported or used as an overlay's image.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import libvirt
import pytest

from kvmtui.backend import create
from kvmtui.backend.create_spec import (
    DirectBoot,
    DiskKind,
    DiskSpec,
    NetworkKind,
    NetworkSpec,
    NewGuest,
    VolumeRef,
)
from kvmtui.backend.domain import Domain
from kvmtui.backend.errors import KvmtuiError, ReadOnlyError
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobContext, JobRegistry, JobState
from kvmtui.screens.console import ConsoleScreen
from kvmtui.screens.new_guest import STEPS
from kvmtui.tui.widgets.terminal import Terminal
from tests.conftest import TEST_GUEST_PREFIX
from tests.harness.guests import destroy_and_undefine, domain_type
from tests.harness.image import GuestImage
from tests.harness.serial import SerialConsole
from tests.hosts import started_host
from tests.networks import BRIDGE, isolated_network
from tests.pilot import build_app, open_wizard, run_async, wizard_fill
from tests.pilot import wait_for as pilot_wait_for
from tests.pools import dir_pool

pytestmark = pytest.mark.daemon

IMAGE = "image.qcow2"
PROMPT = b"kvmtui-guest# "
BOOT_S = 90.0
JOB_S = 60.0


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def pool(daemon_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A test pool holding a 64 MiB qcow2 "image" with a few bytes written into it."""
    with dir_pool(daemon_uri, tmp_path_factory.mktemp("create")) as (name, target):
        image = target / IMAGE
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M"], check=True)
        subprocess.run(
            ["qemu-io", "-c", "write -P 0x5a 0 1M", str(image)], check=True, capture_output=True
        )
        conn = libvirt.open(daemon_uri)
        conn.storagePoolLookupByName(name).refresh(0)
        conn.close()
        yield name, target


@pytest.fixture(scope="module")
def host(daemon_uri: str) -> Iterator[Host]:
    with started_host(daemon_uri) as started:
        yield started


@pytest.fixture
def conn(daemon_uri: str) -> Iterator[libvirt.virConnect]:
    opened = libvirt.open(daemon_uri)
    yield opened
    opened.close()


def guest_name() -> str:
    return f"{TEST_GUEST_PREFIX}create-{uuid.uuid4().hex[:8]}"


def tiny_spec(
    name: str, pool_name: str, image: GuestImage, kind: DiskKind = DiskKind.OVERLAY
) -> NewGuest:
    disk = DiskSpec(kind, VolumeRef(pool_name, IMAGE), pool=pool_name)
    if kind is DiskKind.IMPORT:
        disk = DiskSpec(kind, VolumeRef(pool_name, IMAGE))
    return NewGuest(
        name=name,
        vcpus=1,
        memory_mib=256,
        disks=(disk,),
        direct_boot=DirectBoot(str(image.kernel), str(image.initrd), image.cmdline),
        domain_type=domain_type(),
        machine="pc",
    )


def left_behind(conn: libvirt.virConnect, name: str, pool_name: str) -> list[str]:
    """The guest, if defined, and the pool's volumes other than the image."""
    pool = conn.storagePoolLookupByName(pool_name)
    pool.refresh(0)
    found = [v.name() for v in pool.listAllVolumes(0) if v.name() != IMAGE]
    if name in {d.name() for d in conn.listAllDomains(0)}:
        found.append(f"guest {name}")
    return found


def run(registry: JobRegistry, host: Host, spec: NewGuest, **kwargs: object) -> tuple[str, str]:
    view = create.start_create(registry, host, spec, **kwargs)  # type: ignore[arg-type]
    ended = registry.wait(view.id, JOB_S)
    assert ended is not None, "the create job did not end"
    return ended.state, ended.outcome or ""


def test_overlay_guest_boots_to_its_prompt_and_the_image_is_not_written(
    host: Host, pool: tuple[str, Path], guest_image: GuestImage, conn: libvirt.virConnect
) -> None:
    pool_name, target = pool
    before = sha256(target / IMAGE)
    name = guest_name()
    spec = tiny_spec(name, pool_name, guest_image)
    registry = JobRegistry()
    phases: list[str] = []
    registry.add_listener(lambda view: phases.append(view.phase))
    try:
        state, outcome = run(registry, host, spec)
        assert state == JobState.DONE, outcome
        assert "creating volume" in " ".join(phases) and "defining the guest" in phases
        dom = conn.lookupByName(name)
        assert dom.isActive()
        overlay = conn.storagePoolLookupByName(pool_name).storageVolLookupByName(f"{name}.qcow2")
        assert f"<path>{target / IMAGE}</path>" in overlay.XMLDesc(0)  # the backing store
        with SerialConsole(dom) as console:
            console.wait_for_prompt(PROMPT, BOOT_S)
            console.send(b"dd if=/dev/zero of=/dev/vda bs=1M count=4 conv=fsync; sync\r")
            console.read_until(PROMPT, 30)
        destroy_and_undefine(dom)
        assert sha256(target / IMAGE) == before, "the image was written"
    finally:
        with_domain = [d for d in conn.listAllDomains(0) if d.name() == name]
        for dom in with_domain:
            destroy_and_undefine(dom)
        for vol in conn.storagePoolLookupByName(pool_name).listAllVolumes(0):
            if vol.name() != IMAGE:
                vol.delete(0)


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        (lambda s, p: replace(s, name="bad/name"), "contains '/'"),
        (
            lambda s, p: replace(
                s, disks=(DiskSpec(DiskKind.OVERLAY, VolumeRef(p, "nope.qcow2"), pool=p),)
            ),
            "does not exist",
        ),
        (
            lambda s, p: replace(
                s,
                disks=(
                    *s.disks,
                    DiskSpec(DiskKind.EMPTY, pool=p, size_bytes=1 << 50, preallocate=True),
                ),
            ),
            "available",
        ),
        (
            lambda s, p: replace(
                s, networks=(NetworkSpec(NetworkKind.NETWORK, "kvmtui-test-down"),)
            ),
            "is not active",
        ),
    ],
    ids=["invalid-name", "missing-image", "pool-space", "inactive-network"],
)
def test_refusals_create_nothing(
    host: Host,
    pool: tuple[str, Path],
    guest_image: GuestImage,
    conn: libvirt.virConnect,
    change: object,
    sentence: str,
) -> None:
    pool_name, _target = pool
    name = guest_name()
    spec = change(tiny_spec(name, pool_name, guest_image), pool_name)  # type: ignore[operator]
    network = conn.networkDefineXML(
        "<network><name>kvmtui-test-down</name><bridge name='kvtdown0'/></network>"
    )
    try:
        with pytest.raises(create.CreateRefused, match=sentence):
            create.preflight(host, spec)
        state, outcome = run(JobRegistry(), host, spec)
        assert state == JobState.FAILED and sentence in outcome.replace("\u2019", "'"), outcome
        assert left_behind(conn, spec.name, pool_name) == []
    finally:
        network.undefine()


def test_a_bridge_made_at_runtime_passes_and_a_nic_on_loopback_as_a_bridge_is_a_warning(
    daemon_uri: str, host: Host, pool: tuple[str, Path], guest_image: GuestImage
) -> None:
    """A bridge made with ``ip link`` (kvmtui-tnet0 of tests/networks.py) is found in
    libvirt's lists once udev has it; a bridge NIC on ``lo`` (libvirt types it ethernet)
    is said as a warning with the plan, not refused."""
    pool_name, _target = pool
    spec = tiny_spec(guest_name(), pool_name, guest_image)
    with isolated_network(daemon_uri):
        conn = host.connection()
        deadline = time.monotonic() + 10
        while BRIDGE not in getattr(create.host_interfaces(conn), "names", ()):
            assert time.monotonic() < deadline, "libvirt never listed the new bridge"
            time.sleep(0.2)
        bridged = replace(spec, networks=(NetworkSpec(NetworkKind.BRIDGE, BRIDGE),))
        assert create.preflight(host, bridged).warnings == ()
    on_lo = replace(spec, networks=(NetworkSpec(NetworkKind.BRIDGE, "lo"),))
    warnings = create.preflight(host, on_lo).warnings
    assert len(warnings) == 1 and "interface 'lo' as ethernet, not as a bridge" in warnings[0]


def test_name_clash_and_read_only_are_refused(
    daemon_uri: str, host: Host, pool: tuple[str, Path], guest_image: GuestImage
) -> None:
    pool_name, _target = pool
    spec = tiny_spec(guest_name(), pool_name, guest_image)
    clash = host.connection().defineXML(
        f"<domain type='qemu'><name>{spec.name}</name><memory>65536</memory>"
        "<os><type>hvm</type></os></domain>"
    )
    try:
        with pytest.raises(create.CreateRefused, match="already has a guest named"):
            create.preflight(host, spec)
    finally:
        clash.undefine()
    with started_host(daemon_uri, readonly=True) as readonly, pytest.raises(ReadOnlyError):
        create.preflight(readonly, spec)


def _seed_maker(fail: bool):  # type: ignore[no-untyped-def]
    """A seed step that uploads a small volume (as the cloud-init seed will) and, when
    ``fail``, is cut after it was made."""

    def make(ctx: JobContext, host: Host) -> VolumeRef:
        pool_name = make.pool  # type: ignore[attr-defined]
        pool = host.connection().storagePoolLookupByName(pool_name)
        pool.createXML(
            "<volume><name>seed.iso</name><capacity>1048576</capacity>"
            "<target><format type='raw'/></target></volume>",
            0,
        )
        ref = VolumeRef(pool_name, "seed.iso")
        if fail:
            ctx.cleanup(
                "the seed volume", lambda: pool.storageVolLookupByName("seed.iso").delete(0)
            )
            raise KvmtuiError("the seed upload was cut")
        return ref

    return make


def _cut_at(step: str):  # type: ignore[no-untyped-def]
    def checkpoint(reached: str) -> None:
        if reached == step:
            raise KvmtuiError(f"cut after {step}")

    return checkpoint


@pytest.mark.parametrize(
    "step", ["volumes", "seed", "seed-after", "definition", "define-refused", "start-failed"]
)
def test_a_failure_at_each_step_leaves_nothing(
    host: Host,
    pool: tuple[str, Path],
    guest_image: GuestImage,
    conn: libvirt.virConnect,
    step: str,
) -> None:
    pool_name, target = pool
    before = sha256(target / IMAGE)
    name = guest_name()
    spec = tiny_spec(name, pool_name, guest_image)
    spec = replace(
        spec, disks=(*spec.disks, DiskSpec(DiskKind.EMPTY, pool=pool_name, size_bytes=16 << 20))
    )
    seed = _seed_maker(fail=step == "seed")
    seed.pool = pool_name  # type: ignore[attr-defined]
    kwargs: dict[str, object] = {"make_seed": seed}
    if step in ("volumes", "definition"):
        kwargs["checkpoint"] = _cut_at(step)
    elif step == "seed-after":
        kwargs["checkpoint"] = _cut_at("seed")
    elif step == "define-refused":  # libvirt itself refuses the definition
        spec = replace(spec, machine="kvmtui-no-such-machine")
    elif step == "start-failed":  # defined, then the start fails: no macvtap on loopback
        spec = replace(spec, networks=(NetworkSpec(NetworkKind.DIRECT, "lo"),))
    state, outcome = run(JobRegistry(), host, spec, **kwargs)
    assert state == JobState.FAILED, outcome
    assert "Removed" in outcome, outcome
    assert left_behind(conn, name, pool_name) == []
    assert sha256(target / IMAGE) == before


@run_async
async def test_the_wizard_creates_a_guest_from_an_imported_disk_and_opens_its_console(
    daemon_uri: str, pool: tuple[str, Path], guest_image: GuestImage, conn: libvirt.virConnect
) -> None:
    """Driven with the Pilot: source an imported qcow2 volume, Generic Linux, 256 MiB,
    the tiny guest's kernel and initrd by direct kernel boot; ctrl+s on the summary
    creates it as a job and the console shows the guest's shell prompt."""
    pool_name, target = pool
    disk = target / "imported.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    conn.storagePoolLookupByName(pool_name).refresh(0)
    name = guest_name()
    app = build_app(daemon_uri, stats=False)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            wizard = await open_wizard(pilot)
            await wizard_fill(
                pilot, wizard, source_kind="import", source_ref=f"{pool_name}/imported.qcow2"
            )
            for _step in range(2):  # source, OS (Generic Linux)
                await pilot.press("pagedown")
            await wizard_fill(pilot, wizard, guest_name=name, guest_memory="256")
            for _step in range(3):  # name, disk, network (none)
                await pilot.press("pagedown")
            await wizard_fill(
                pilot,
                wizard,
                fw_accel=domain_type(),
                fw_kernel=str(guest_image.kernel),
                fw_initrd=str(guest_image.initrd),
                fw_cmdline=guest_image.cmdline,
            )
            await pilot.press("pagedown")
            assert STEPS[wizard.step][0] == "summary", wizard.problem_text
            await pilot.press("ctrl+s")
            await pilot_wait_for(
                pilot,
                lambda: isinstance(app.screen, ConsoleScreen) and bool(app.screen.query(Terminal)),
                "the console",
                JOB_S,
            )
            terminal = app.screen.query_one(Terminal)
            await pilot.press("enter")
            await pilot_wait_for(
                pilot,
                lambda: PROMPT.decode().strip() in "\n".join(terminal.text_lines()),
                "the guest's prompt",
                BOOT_S,
            )
        dom = conn.lookupByName(name)
        disks = Domain.from_xml(dom.XMLDesc(0)).disks
        assert [d.source_text for d in disks] == [f"{pool_name}/imported.qcow2"]
    finally:
        for dom in [d for d in conn.listAllDomains(0) if d.name() == name]:
            destroy_and_undefine(dom)
        disk.unlink(missing_ok=True)
        conn.storagePoolLookupByName(pool_name).refresh(0)


def test_creation_over_loopback_tcp_names_volumes_not_local_paths(
    tcp_uri: str, pool: tuple[str, Path], guest_image: GuestImage, conn: libvirt.virConnect
) -> None:
    """On a remote connection the new volumes are made and named through the pool, and a
    path no pool knows is refused (kvmtui cannot look at the remote host's files)."""
    pool_name, _target = pool
    name = guest_name()
    spec = replace(tiny_spec(name, pool_name, guest_image), start=False)
    with started_host(tcp_uri) as remote:
        with pytest.raises(create.CreateRefused, match="does not exist in any pool"):
            create.preflight(
                remote, replace(spec, disks=(DiskSpec(DiskKind.IMPORT, VolumeRef(path="/nope")),))
            )
        try:
            state, outcome = run(JobRegistry(), remote, spec)
            assert state == JobState.DONE, outcome
            disks = Domain.from_xml(conn.lookupByName(name).XMLDesc(0)).disks
            assert [d.source_text for d in disks] == [f"{pool_name}/{name}.qcow2"]
        finally:
            for dom in [d for d in conn.listAllDomains(0) if d.name() == name]:
                destroy_and_undefine(dom)
            for vol in conn.storagePoolLookupByName(pool_name).listAllVolumes(0):
                if vol.name() != IMAGE:
                    vol.delete(0)
