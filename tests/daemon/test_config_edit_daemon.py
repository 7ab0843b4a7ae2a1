"""The configuration editor's backend on the real daemon with one real tiny guest shared
by the module (1 of at most 2 vCPUs, an empty CD-ROM drive on virtio-scsi): vCPU
hot-plug seen online in the guest, balloon, a new thin volume hot-plugged and detached,
an ISO inserted and ejected, NIC link down and up, DIMMs plugged (kvmtui onlines only
the new one's blocks; a guest that onlines them itself is said so), a failing transaction
undone, read-only refused, and saved-only changes that appear after a restart (last: it
restarts the guest). A second, never started guest takes the saved-only edits.

What the guest sees is read through its agent (guest-exec), with deadlines.
"""

from __future__ import annotations

import contextlib
import io
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import libvirt
import pycdlib
import pytest

from kvmtui.backend.agent import GuestAgent
from kvmtui.backend.config_changes import (
    SHARED_QCOW2,
    AddCdrom,
    AddDimm,
    AttachDisk,
    AttachNic,
    ChangeMedia,
    DetachDisk,
    DetachNic,
    RemoveCdrom,
    Rename,
    SetAutostart,
    SetBoot,
    SetCpuMode,
    SetDiskOptions,
    SetLink,
    SetMemory,
    SetText,
    SetVcpus,
    SourceKind,
    memory_blocks,
    new_blocks,
)
from kvmtui.backend.config_edit import ConfigRefused, apply_changes
from kvmtui.backend.config_state import read_config
from kvmtui.backend.domain import Domain
from kvmtui.backend.errors import ReadOnlyError
from kvmtui.backend.host import Host
from kvmtui.backend.throttle import Scope
from tests.conftest import TEST_GUEST_PREFIX
from tests.harness.guests import (
    define_guest,
    destroy_and_undefine,
    memory_hotplug_xml,
    wait_for_agent,
)
from tests.harness.image import GuestImage
from tests.hosts import started_host
from tests.networks import isolated_network
from tests.pools import dir_pool

pytestmark = [pytest.mark.daemon, pytest.mark.guest]

SAVED = libvirt.VIR_DOMAIN_XML_INACTIVE
CDROM = "sda"
LABEL = "KVMTUI_CONFIG"
DEADLINE_S = 30.0


HOTPLUG_MIB = 640  # <maxMemory> of the booted guest: three 128 MiB DIMMs over its 256 MiB
DIMM_MIB = 128


def _define(
    conn: libvirt.virConnect, image: GuestImage, *, start: bool, hotplug: bool = False
) -> libvirt.virDomain:
    name = f"{TEST_GUEST_PREFIX}cfg-{uuid.uuid4().hex[:6]}"
    dom = define_guest(conn, name, image, vcpus=2, start=False)
    xml = dom.XMLDesc(SAVED)
    if hotplug:
        xml = memory_hotplug_xml(xml, HOTPLUG_MIB, slots=3)
    domain = Domain.from_xml(xml)
    domain.set_vcpus(1, 2)
    domain.add_device("<controller type='scsi' model='virtio-scsi'/>")
    domain.add_device(
        f"<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
        f"<target dev='{CDROM}' bus='scsi'/><readonly/></disk>"
    )
    dom = conn.defineXML(domain.to_xml())
    if start:
        dom.create()
    return dom


@pytest.fixture(scope="module")
def conn(daemon_uri: str) -> Iterator[libvirt.virConnect]:
    opened = libvirt.open(daemon_uri)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def guest(conn: libvirt.virConnect, guest_image: GuestImage) -> Iterator[libvirt.virDomain]:
    dom = _define(conn, guest_image, start=True, hotplug=True)
    try:
        wait_for_agent(dom, 60)
        yield dom
    finally:
        destroy_and_undefine(dom)


@pytest.fixture(scope="module")
def host(daemon_uri: str) -> Iterator[Host]:
    with started_host(daemon_uri) as started:
        yield started


@pytest.fixture(scope="module")
def pool_dir(daemon_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A running dir pool's folder (the pool is named after it)."""
    with dir_pool(daemon_uri, tmp_path_factory.mktemp("config-pool")) as (name, target):
        assert target.name == name
        yield target


@pytest.fixture(scope="module")
def pool(pool_dir: Path) -> str:
    return pool_dir.name


@pytest.fixture(scope="module")
def network(daemon_uri: str) -> Iterator[str]:
    """An isolated libvirt network (a host bridge kvmtui-tnet0 with no uplink)."""
    with isolated_network(daemon_uri) as name:
        yield name


def _agent(host: Host, dom: libvirt.virDomain) -> GuestAgent:
    return GuestAgent(host, dom.UUIDString(), limit_s=10.0)


def _sh(host: Host, dom: libvirt.virDomain, script: str) -> str:
    result = _agent(host, dom).exec(["/bin/sh", "-c", script], limit_s=20)
    assert result.finished, result
    return result.stdout + result.err.decode(errors="replace")


def _until(read: Callable[[], object], want: Callable[[object], bool], what: str) -> object:
    deadline = time.monotonic() + DEADLINE_S
    seen = read()
    while not want(seen):
        assert time.monotonic() < deadline, f"{what}: still {seen!r} after {DEADLINE_S} s"
        time.sleep(0.25)
        seen = read()
    return seen


def _online(host: Host, dom: libvirt.virDomain) -> int:
    vcpus = _agent(host, dom).command("read vCPUs", "guest-get-vcpus")
    return sum(1 for vcpu in vcpus if vcpu["online"])  # type: ignore[union-attr]


def test_vcpus_1_to_2_live_are_online_in_the_guest_and_in_libvirt(
    host: Host, guest: libvirt.virDomain
) -> None:
    uuid_ = guest.UUIDString()
    assert _online(host, guest) == 1
    outcome = apply_changes(host, uuid_, [SetVcpus(2)], Scope.LIVE)
    assert outcome.ok, outcome.text
    assert outcome.mismatches == ()
    assert "online in the guest" in outcome.applied[0]
    _until(lambda: _online(host, guest), lambda n: n == 2, "vCPUs online in the guest")
    assert guest.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE) == 2
    assert guest.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_CONFIG) == 1  # live only
    assert outcome.after is not None and outcome.after.vcpus_live == 2


def test_unplugging_a_vcpu_is_refused_with_the_reason(host: Host, guest: libvirt.virDomain) -> None:
    config = read_config(host, guest.UUIDString())
    assert config.tcg  # the harness runs TCG here (HYPERVISOR-NOTES: nested KVM is mute)
    with pytest.raises(ConfigRefused, match=r"TCG\) cannot unplug a vCPU") as refused:
        apply_changes(host, guest.UUIDString(), [SetVcpus(1)], Scope.LIVE)
    assert str(refused.value).count(".") >= 1 and "Nothing was changed" in str(refused.value)
    assert guest.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE) == 2
    # More than the running maximum: refused before libvirt too.
    with pytest.raises(ConfigRefused, match="at most 2"):
        apply_changes(host, guest.UUIDString(), [SetVcpus(3)], Scope.LIVE)


def _mem_total_kib(host: Host, dom: libvirt.virDomain) -> int:
    line = _sh(host, dom, "grep MemTotal /proc/meminfo")
    return int(line.split()[1])


def test_a_balloon_change_shows_in_the_guests_memory(host: Host, guest: libvirt.virDomain) -> None:
    before = _mem_total_kib(host, guest)
    outcome = apply_changes(host, guest.UUIDString(), [SetMemory(192 * 1024)], Scope.LIVE)
    assert outcome.ok, outcome.text
    # Read back at once, the balloon may still be on its way; said so, not as a failure.
    assert all("on its way to 192 MiB" in line for line in outcome.mismatches), outcome.text
    _until(
        lambda: _mem_total_kib(host, guest),
        lambda kib: kib <= before - 48 * 1024,  # type: ignore[operator]
        "MemTotal after the balloon",
    )
    back = apply_changes(host, guest.UUIDString(), [SetMemory(256 * 1024)], Scope.LIVE)
    assert back.ok, back.text
    _until(
        lambda: _mem_total_kib(host, guest),
        lambda kib: kib >= before - 1024,  # type: ignore[operator]
        "MemTotal after the balloon let go",
    )


def _block_devices(host: Host, dom: libvirt.virDomain) -> set[str]:
    return set(_sh(host, dom, "ls /sys/block").split())


def test_attach_a_new_thin_volume_live_then_detach(
    host: Host, guest: libvirt.virDomain, pool: str, conn: libvirt.virConnect
) -> None:
    uuid_ = guest.UUIDString()
    assert _block_devices(host, guest) >= {"vda"} and "vdb" not in _block_devices(host, guest)
    attach = AttachDisk(SourceKind.NEW, "config-new.qcow2", pool=pool, size="64M")
    outcome = apply_changes(host, uuid_, [attach], Scope.LIVE)
    assert outcome.ok and outcome.mismatches == (), outcome.text
    assert outcome.after is not None
    new = outcome.after.disk("vdb")  # the first free virtio target
    assert new is not None and new.live and not new.saved
    volume = conn.storagePoolLookupByName(pool).storageVolLookupByName("config-new.qcow2")
    _type, capacity, allocation = volume.info()
    assert capacity == 64 * 1024**2 and allocation < capacity // 4  # thin
    _until(lambda: _block_devices(host, guest), lambda d: "vdb" in d, "vdb in /sys/block")  # type: ignore[operator]

    detached = apply_changes(host, uuid_, [DetachDisk("vdb")], Scope.LIVE)
    assert detached.ok, detached.text
    _until(lambda: _block_devices(host, guest), lambda d: "vdb" not in d, "vdb gone")  # type: ignore[operator]
    assert Domain.from_xml(guest.XMLDesc(0)).disk("vdb") is None


def _iso(path: Path) -> Path:
    iso = pycdlib.PyCdlib()
    iso.new(vol_ident=LABEL)
    iso.add_fp(io.BytesIO(b"kvmtui\n"), 7, "/HELLO.;1")
    iso.write(str(path))
    iso.close()
    path.chmod(0o644)
    return path


READ_LABEL = "dd if=/dev/sr0 bs=2048 skip=16 count=1 2>&1 | dd bs=1 skip=40 count=32 2>/dev/null"


def test_cdrom_insert_the_guest_reads_the_label_then_eject(
    host: Host, guest: libvirt.virDomain, tmp_path: Path
) -> None:
    iso = _iso(tmp_path / "config.iso")
    _sh(host, guest, "for m in $(cat /etc/modules.cdrom); do insmod /lib/modules/$m.ko; done")
    _until(lambda: _block_devices(host, guest), lambda d: "sr0" in d, "sr0 in /sys/block")  # type: ignore[operator]

    inserted = apply_changes(host, guest.UUIDString(), [ChangeMedia(CDROM, str(iso))], Scope.LIVE)
    assert inserted.ok and inserted.mismatches == (), inserted.text
    _until(lambda: _sh(host, guest, READ_LABEL).strip(), lambda t: t == LABEL, "the ISO's label")

    ejected = apply_changes(host, guest.UUIDString(), [ChangeMedia(CDROM, None)], Scope.LIVE)
    assert ejected.ok and ejected.mismatches == (), ejected.text
    _until(
        lambda: _sh(host, guest, "dd if=/dev/sr0 bs=2048 count=1 2>&1 >/dev/null"),
        lambda t: "No medium found" in str(t),
        "the drive empty",
    )


def test_cdrom_insert_a_volume_by_pool_and_name(
    host: Host, guest: libvirt.virDomain, conn: libvirt.virConnect, pool_dir: Path
) -> None:
    """Runs after the path test (the modules are loaded, the drive is empty)."""
    _iso(pool_dir / "config-vol.iso")
    conn.storagePoolLookupByName(pool_dir.name).refresh(0)
    change = ChangeMedia(CDROM, "config-vol.iso", pool=pool_dir.name)
    inserted = apply_changes(host, guest.UUIDString(), [change], Scope.LIVE)
    assert inserted.ok and inserted.mismatches == (), inserted.text
    assert inserted.after is not None
    assert inserted.after.disk(CDROM).source == str(pool_dir / "config-vol.iso")  # type: ignore[union-attr]
    _until(lambda: _sh(host, guest, READ_LABEL).strip(), lambda t: t == LABEL, "the label")
    ejected = apply_changes(host, guest.UUIDString(), [ChangeMedia(CDROM, None)], Scope.LIVE)
    assert ejected.ok, ejected.text


def test_nic_link_down_then_up_sets_the_guests_carrier(
    host: Host, guest: libvirt.virDomain
) -> None:
    mac = read_config(host, guest.UUIDString()).nics[0].mac

    def carrier() -> str:
        return _sh(host, guest, "cat /sys/class/net/eth0/carrier").strip()

    assert carrier() == "1"
    down = apply_changes(host, guest.UUIDString(), [SetLink(mac, False)], Scope.LIVE)
    assert down.ok and down.mismatches == (), down.text
    _until(carrier, lambda c: c == "0", "carrier after link down")
    up = apply_changes(host, guest.UUIDString(), [SetLink(mac, True)], Scope.LIVE)
    assert up.ok, up.text
    _until(carrier, lambda c: c == "1", "carrier after link up")


def _net_devices(host: Host, dom: libvirt.virDomain) -> set[str]:
    return set(_sh(host, dom, "ls /sys/class/net").split())


def test_a_nic_attached_live_on_an_isolated_network_shows_in_the_guest_then_goes(
    host: Host, guest: libvirt.virDomain, network: str
) -> None:
    uuid_ = guest.UUIDString()
    assert "eth0" in _net_devices(host, guest) and "eth1" not in _net_devices(host, guest)
    outcome = apply_changes(host, uuid_, [AttachNic("network", network)], Scope.LIVE)
    assert outcome.ok and outcome.mismatches == (), outcome.text
    assert outcome.after is not None
    new = [nic for nic in outcome.after.nics if nic.source == network]
    assert len(new) == 1 and new[0].live and not new[0].saved and new[0].model == "virtio"
    mac = new[0].mac
    _until(lambda: _net_devices(host, guest), lambda d: "eth1" in d, "eth1 in the guest")  # type: ignore[operator]
    assert _sh(host, guest, "cat /sys/class/net/eth1/address").strip() == mac

    detached = apply_changes(host, uuid_, [DetachNic(mac)], Scope.LIVE)
    assert detached.ok, detached.text
    _until(lambda: _net_devices(host, guest), lambda d: "eth1" not in d, "eth1 gone")  # type: ignore[operator]
    _until(
        lambda: Domain.from_xml(guest.XMLDesc(0)).interface(mac),
        lambda nic: nic is None,
        "the NIC gone from the running definition",
    )


def _blocks(host: Host, dom: libvirt.virDomain) -> dict[int, bool]:
    blocks = memory_blocks(_agent(host, dom))
    assert blocks is not None, "the agent did not list the memory blocks"
    return blocks


@pytest.fixture(scope="module")
def offline_dimm(host: Host, guest: libvirt.virDomain) -> list[int]:
    """A DIMM plugged by libvirt alone, its blocks left offline by the tiny guest (memory
    offline for a reason of its own, as far as kvmtui knows): their phys-indexes."""
    before = _blocks(host, guest)
    guest.attachDeviceFlags(
        f"<memory model='dimm'><target><size unit='MiB'>{DIMM_MIB}</size><node>0</node>"
        "</target></memory>",
        libvirt.VIR_DOMAIN_AFFECT_LIVE,
    )
    fresh = _until(
        lambda: new_blocks(before, _blocks(host, guest)), bool, "the first DIMM's blocks"
    )
    assert isinstance(fresh, dict) and not any(fresh.values()), fresh
    return sorted(fresh)


def test_a_dimm_plugged_live_shows_in_the_guests_memory(
    host: Host, guest: libvirt.virDomain, offline_dimm: list[int]
) -> None:
    """The tiny guest leaves a new DIMM's blocks offline: kvmtui brings them, and only
    them, online (another DIMM's offline blocks stay so)."""
    uuid_ = guest.UUIDString()
    before = read_config(host, uuid_)
    assert before.memory_hotplug is None and before.memory_hotplug_kib == HOTPLUG_MIB * 1024
    total_before = _mem_total_kib(host, guest)
    blocks_before = _blocks(host, guest)
    outcome = apply_changes(host, uuid_, [AddDimm(DIMM_MIB * 1024)], Scope.LIVE)
    assert outcome.ok and outcome.mismatches == (), outcome.text
    assert "DIMM (running guest), online in the guest" in outcome.text, outcome.text
    assert outcome.after is not None and outcome.after.dimms_live == 2
    assert outcome.after.memory_max_live_kib == (before.memory_max_live_kib or 0) + 128 * 1024
    _until(
        lambda: _mem_total_kib(host, guest),
        lambda kib: kib >= total_before + 120 * 1024,  # type: ignore[operator]
        "MemTotal after the DIMM",
    )
    after = _blocks(host, guest)
    plugged = new_blocks(blocks_before, after)
    assert plugged and all(plugged.values()), plugged
    assert not any(after[index] for index in offline_dimm), "an offline block was onlined"


def test_a_guest_that_onlines_dimms_itself_is_said_so(
    host: Host, guest: libvirt.virDomain, offline_dimm: list[int]
) -> None:
    """The guest's kernel set to online new memory itself (what udev rules do on Ubuntu
    and RHEL): the next DIMM is reported as brought online by the guest, not as "not
    brought online"; the other DIMM's offline blocks stay so. Then <maxMemory> is full."""
    uuid_ = guest.UUIDString()
    _sh(host, guest, "echo online > /sys/devices/system/memory/auto_online_blocks")
    try:
        before = _blocks(host, guest)
        outcome = apply_changes(host, uuid_, [AddDimm(DIMM_MIB * 1024)], Scope.LIVE)
        assert outcome.ok, outcome.text
        assert "online (the guest brought it online itself)" in outcome.text, outcome.text
        after = _blocks(host, guest)
        fresh = new_blocks(before, after)
        assert fresh and all(fresh.values()), fresh
        assert not any(after[index] for index in offline_dimm), "an offline block was onlined"
    finally:
        _sh(host, guest, "echo offline > /sys/devices/system/memory/auto_online_blocks")
    # Over <maxMemory>: refused before libvirt, in one sentence.
    with pytest.raises(ConfigRefused, match=r"over the guest's <maxMemory> of 640 MiB"):
        apply_changes(host, uuid_, [AddDimm(256 * 1024)], Scope.LIVE)


def _title(dom: libvirt.virDomain, flags: int) -> str | None:
    try:
        return str(dom.metadata(libvirt.VIR_DOMAIN_METADATA_TITLE, None, flags))
    except libvirt.libvirtError:
        return None


def test_a_transaction_whose_second_change_fails_undoes_the_first(
    host: Host, guest: libvirt.virDomain
) -> None:
    missing = "/nonexistent/kvmtui-config.qcow2"
    changes = [SetText("title", "set before the failure"), AttachDisk(SourceKind.PATH, missing)]
    saved_before = guest.XMLDesc(SAVED)

    outcome = apply_changes(host, guest.UUIDString(), changes, Scope.BOTH)

    assert not outcome.ok
    assert outcome.error is not None and "disk (running guest)" in outcome.error
    assert missing in outcome.error  # libvirt's reason names the file
    assert outcome.undone == (
        "title -> set before the failure (saved)",
        "title -> set before the failure (running guest)",
    )
    assert "Undone:" in outcome.text and outcome.not_undone == ()
    assert _title(guest, libvirt.VIR_DOMAIN_AFFECT_LIVE) is None
    assert _title(guest, libvirt.VIR_DOMAIN_AFFECT_CONFIG) is None
    assert guest.XMLDesc(SAVED) == saved_before
    assert Domain.from_xml(guest.XMLDesc(0)).disk("vdb") is None


def test_read_only_refuses_every_change_in_the_backend(
    daemon_uri: str, guest: libvirt.virDomain, pool: str
) -> None:
    mac = Domain.from_xml(guest.XMLDesc(0)).interfaces[0].mac or ""
    changes = [
        SetVcpus(2),
        SetMemory(200 * 1024),
        SetCpuMode("host-model"),
        SetBoot(("vda",), menu=True),
        SetText("title", "read-only"),
        Rename("renamed"),
        SetAutostart(True),
        AttachDisk(SourceKind.NEW, "ro.qcow2", pool=pool),
        DetachDisk("vda"),
        ChangeMedia(CDROM, None),
        AttachNic("network", "default"),
        SetLink(mac, False),
    ]
    live, saved = guest.XMLDesc(0), guest.XMLDesc(SAVED)
    with started_host(daemon_uri, readonly=True) as readonly:
        for change in changes:
            with pytest.raises(ReadOnlyError, match="the connection is read-only"):
                apply_changes(readonly, guest.UUIDString(), [change], Scope.BOTH)
    assert (guest.XMLDesc(0), guest.XMLDesc(SAVED)) == (live, saved)


def test_saved_only_edits_of_a_shut_off_guest_are_read_back(
    host: Host, conn: libvirt.virConnect, guest_image: GuestImage
) -> None:
    dom = _define(conn, guest_image, start=False)
    try:
        uuid_ = dom.UUIDString()
        mac = read_config(host, uuid_).nics[0].mac
        new_name = f"{dom.name()}-renamed"
        changes = [
            SetVcpus(2, maximum=3),
            SetMemory(128 * 1024, maximum_kib=384 * 1024),
            SetCpuMode("host-model"),
            SetBoot((CDROM, "vda", mac), menu=True),
            SetText("description", "edited by the test"),
            SetAutostart(True),
            SetDiskOptions("vda", cache="writeback"),
            Rename(new_name),
        ]
        with pytest.raises(ConfigRefused, match="only its saved configuration"):
            apply_changes(host, uuid_, changes, Scope.LIVE)
        outcome = apply_changes(host, uuid_, changes, Scope.BOTH)  # shut off: saved only
        assert outcome.ok and outcome.mismatches == (), outcome.text
        after = outcome.after
        assert after is not None
        assert (after.vcpus_saved, after.vcpus_max) == (2, 3)
        assert (after.memory_saved_kib, after.memory_max_kib) == (128 * 1024, 384 * 1024)
        assert (after.cpu_text, after.boot_text, after.boot_menu) == (
            "host-model", f"{CDROM}, vda, NIC {mac}", True
        )  # fmt: skip
        assert (after.description, after.autostart, after.name) == (
            "edited by the test", True, new_name
        )  # fmt: skip
        assert conn.lookupByUUIDString(uuid_).name() == new_name
        vda = Domain.from_xml(dom.XMLDesc(SAVED)).disk("vda")
        assert vda is not None and vda.cache == "writeback"
        assert after.disk("vda").options_text == "cache writeback"  # type: ignore[union-attr]
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            dom.setAutostart(0)
        destroy_and_undefine(dom)


def test_a_cdrom_drive_added_with_its_controller_then_removed_and_disk_options(
    host: Host, conn: libvirt.virConnect, guest_image: GuestImage
) -> None:
    """A guest without a SCSI controller (never started): the new drive brings a
    virtio-scsi one in the same definition; removed again; a writable shareable qcow2 is
    refused before libvirt, a read-only one is kept."""
    name = f"{TEST_GUEST_PREFIX}cfg-{uuid.uuid4().hex[:6]}"
    dom = define_guest(conn, name, guest_image, start=False)
    try:
        uuid_ = dom.UUIDString()
        assert "scsi" not in read_config(host, uuid_).controllers
        added = apply_changes(host, uuid_, [AddCdrom("scsi"), AddCdrom("sata")], Scope.CONFIG)
        assert added.ok and added.mismatches == (), added.text
        assert "a virtio-scsi controller" in added.applied[0]
        saved = Domain.from_xml(dom.XMLDesc(SAVED))
        drive, sata = saved.disk("sda"), saved.disk("sdb")
        assert drive is not None and drive.device == "cdrom" and drive.bus == "scsi"
        assert sata is not None and sata.device == "cdrom" and sata.bus == "sata"
        assert "model='virtio-scsi'" in dom.XMLDesc(SAVED)

        removed = apply_changes(host, uuid_, [RemoveCdrom("sda"), RemoveCdrom("sdb")], Scope.CONFIG)
        assert removed.ok and removed.mismatches == (), removed.text
        assert [d.target for d in Domain.from_xml(dom.XMLDesc(SAVED)).disks] == ["vda"]

        before = dom.XMLDesc(SAVED)
        with pytest.raises(ConfigRefused, match=SHARED_QCOW2):
            apply_changes(host, uuid_, [SetDiskOptions("vda", shareable=True)], Scope.CONFIG)
        assert dom.XMLDesc(SAVED) == before
        shared = SetDiskOptions("vda", cache="none", shareable=True, readonly=True)
        kept = apply_changes(host, uuid_, [shared], Scope.CONFIG)
        assert kept.ok and kept.mismatches == (), kept.text
        assert kept.after is not None
        assert kept.after.disk("vda").options_text == "read-only, shareable, cache none"  # type: ignore[union-attr]
    finally:
        destroy_and_undefine(dom)


def test_saved_only_changes_appear_after_a_restart(
    host: Host, guest: libvirt.virDomain, pool: str
) -> None:
    uuid_ = guest.UUIDString()
    attach = AttachDisk(SourceKind.NEW, "config-saved.qcow2", pool=pool, size="32M")
    changes = [SetVcpus(2), attach, AddCdrom("scsi")]
    outcome = apply_changes(host, uuid_, changes, Scope.CONFIG)
    assert outcome.ok and outcome.mismatches == (), outcome.text
    assert outcome.after is not None
    saved_disk = outcome.after.disk("vdb")
    assert saved_disk is not None and saved_disk.saved and not saved_disk.live
    drive = outcome.after.disk("sdb")  # the next free SCSI target after the drive sda
    assert drive is not None and drive.cdrom and drive.saved and not drive.live
    assert guest.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_CONFIG) == 2
    assert "vdb" not in _block_devices(host, guest)

    guest.destroy()
    guest.create()
    wait_for_agent(guest, 60)

    assert guest.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE) == 2
    _until(lambda: _online(host, guest), lambda n: n == 2, "vCPUs online after the restart")
    _until(lambda: _block_devices(host, guest), lambda d: "vdb" in d, "vdb after the restart")  # type: ignore[operator]
    _sh(host, guest, "for m in $(cat /etc/modules.cdrom); do insmod /lib/modules/$m.ko; done")
    _until(
        lambda: _block_devices(host, guest),
        lambda d: {"sr0", "sr1"} <= d,  # type: ignore[operator]
        "both CD-ROM drives after the restart",
    )

