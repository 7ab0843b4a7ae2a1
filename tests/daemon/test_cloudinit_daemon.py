"""Cloud-init end to end on the real daemon, over qemu+tcp://127.0.0.1/system (the remote
path: the seed and the overlay are made through libvirt, nothing is written to a host
path by the test's process).

One guest, shared by the module, created THROUGH THE WIZARD driven with the Pilot: the
cloud image (tests/harness/cloudimage.py, linked into a test pool) as the source with a
thin overlay, Generic Linux, 1024 MiB, a bridge the test creates, and on the Cloud-init
page a user, a fresh SSH key pasted, a host name and a static address; ctrl+s on the
summary runs the create job, which uploads the seed kvmtui builds and attaches it as a
read-only virtio disk. The guest boots by BIOS and GRUB like any cloud image and real
cloud-init reads the seed; then the agent reports the host name, and ssh with the key
runs ``hostname`` in the guest; once cloud-init has finished, a seed watcher detaches
the seed (the wizard's default), keeping its volume; rebooted without it, the guest is
still the same cloud-init instance. As soon as the guest runs, its tap
is moved out of the bridge into a network namespace the test creates (addresses exist
only there) and ssh runs inside it: no traffic leaves loopback or that namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import libvirt
import pycdlib
import pytest

from kvmtui.backend import cloudinit, create, lifecycle, seed, transfer
from kvmtui.backend.addresses import read_addresses, read_user
from kvmtui.backend.agent import GuestAgent
from kvmtui.backend.create_spec import GIB, DiskKind, DiskSpec, NewGuest, SeedSpec, VolumeRef
from kvmtui.backend.domain.notes import SEED_DETACH_NAMESPACE
from kvmtui.backend.errors import KvmtuiError
from kvmtui.backend.host import Host
from kvmtui.backend.jobs import JobRegistry, JobState
from kvmtui.backend.seed_detach import detach_seed, read_guest_seed
from kvmtui.backend.seed_watch import has_mark
from kvmtui.screens.new_guest import STEPS
from tests.harness.cloudimage import CloudImage
from tests.harness.guests import (
    AgentTimeout,
    agent_command,
    destroy_and_undefine,
    domain_type,
    wait_for_agent,
)
from tests.hosts import started_host
from tests.pilot import build_app, open_wizard, wizard_fill
from tests.pilot import wait_for as pilot_wait_for
from tests.pools import dir_pool
from tests.seed_watching import watching
from tests.waiting import wait_for

pytestmark = pytest.mark.daemon

GUEST_ADDRESS = "10.213.7.2"
HOST_ADDRESS = "10.213.7.1"
PREFIX = 24
USER = "kvmadmin"
IMAGE = "cloud.qcow2"
#: Measured here under TCG (BIOS, GRUB, systemd, cloud-init) on 2 shared cores: the
#: seeded host name from the agent after 53-90 s, ssh 5-8 s later (the wizard-made guest:
#: 53 s and 58 s, the module 64 s). The deadline leaves room
#: for a busier machine; it only bounds a failure.
BOOT_DEADLINE_S = 200.0
JOB_DEADLINE_S = 60.0


@dataclass(frozen=True)
class CloudGuest:
    dom: libvirt.virDomain
    hostname: str
    key: Path
    namespace: str
    started: float
    xml: str  # the definition the wizard made


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=60)


@pytest.fixture(scope="module")
def tcp_host(tcp_uri: str) -> Iterator[Host]:
    with started_host(tcp_uri) as connected:
        yield connected


@pytest.fixture(scope="module")
def pool(
    daemon_uri: str, cloud_image: CloudImage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """A test pool; the cloud image is in it as a symbolic link (deleting that volume
    removes the link, never the cached image)."""
    with dir_pool(daemon_uri, tmp_path_factory.mktemp("cloudpool")) as (name, target):
        (target / IMAGE).symlink_to(cloud_image.disk.resolve())
        conn = libvirt.open(daemon_uri)
        conn.storagePoolLookupByName(name).refresh(0)
        conn.close()
        yield name, target


@contextlib.contextmanager
def namespace() -> Iterator[str]:
    """A network namespace of the test's own, removed afterwards."""
    name = f"kvmtui-test-{uuid.uuid4().hex[:8]}"
    run("ip", "netns", "add", name)
    try:
        run("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        run("ip", "netns", "delete", name, check=False)


@contextlib.contextmanager
def bridge() -> Iterator[str]:
    """A host bridge without an address (the guest's tap joins it only until it is moved)."""
    name = f"kvtbr{uuid.uuid4().hex[:8]}"
    run("ip", "link", "add", name, "type", "bridge")
    try:
        run("ip", "link", "set", name, "up")
        yield name
    finally:
        run("ip", "link", "delete", name, check=False)


def tap_of(dom: libvirt.virDomain) -> str | None:
    """The running guest's tap device, from its live definition."""
    target = ET.fromstring(dom.XMLDesc(0)).find("devices/interface/target")
    return target.get("dev") if target is not None else None


def upload(host: Host, pool: str, name: str, files: cloudinit.SeedFiles) -> str:
    registry = JobRegistry(min_interval=0.05)
    view = seed.start_seed_upload(registry, host, pool, name, files)
    end = registry.wait(view.id, JOB_DEADLINE_S)
    assert end is not None and end.state is JobState.DONE, end and end.outcome
    return end.outcome or ""


async def create_through_the_wizard(
    uri: str, name: str, pool: str, bridge_name: str, hostname: str, key: str, ns: str
) -> tuple[float, str]:
    """Drive the wizard to create and start the guest; move its tap into ``ns`` at once.
    Returns when the guest started (monotonic) and the definition made."""
    app = build_app(uri, stats=False)
    async with app.run_test(size=(100, 34)) as pilot:
        wizard = await open_wizard(pilot)
        await wizard_fill(pilot, wizard, source_kind="image", source_ref=f"{pool}/{IMAGE}")
        for _step in range(2):  # source, OS (Generic Linux)
            await pilot.press("alt+f")
        await wizard_fill(pilot, wizard, guest_name=name, guest_memory="1024")
        await pilot.press("alt+f")
        await wizard_fill(pilot, wizard, disk_pool=pool, disk_size="2G", disk_mode="overlay")
        await pilot.press("alt+f")
        await wizard_fill(pilot, wizard, net_kind="bridge", net_source=bridge_name)
        await pilot.press("alt+f")
        assert STEPS[wizard.step][0] == "cloudinit", wizard.problem_text
        await wizard_fill(pilot, wizard, ci_user=USER, ci_paste=key, ci_hostname=hostname,
                          ci_address=f"{GUEST_ADDRESS}/{PREFIX}")  # fmt: skip
        await pilot.press("alt+f")
        await wizard_fill(pilot, wizard, fw_accel=domain_type())
        await pilot.press("alt+f")
        assert STEPS[wizard.step][0] == "summary", wizard.problem_text
        await pilot.press("ctrl+s")
        conn = libvirt.open(uri)
        try:

            def running() -> libvirt.virDomain | None:
                with contextlib.suppress(libvirt.libvirtError):
                    dom = conn.lookupByName(name)
                    return dom if dom.isActive() else None
                return None

            await pilot_wait_for(pilot, running, "the guest to start", JOB_DEADLINE_S)
            started = time.monotonic()
            dom = running()
            assert dom is not None
            tap = tap_of(dom)
            assert tap, dom.XMLDesc(0)
            # At once: networkd waits for a carrier, and the guest's first DHCP-less boot
            # must find its address's link up.
            run("ip", "link", "set", tap, "netns", ns)
            run("ip", "-n", ns, "addr", "add", f"{HOST_ADDRESS}/{PREFIX}", "dev", tap)
            run("ip", "-n", ns, "link", "set", tap, "up")
            xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        finally:
            conn.close()
        await pilot_wait_for(pilot, lambda: wizard.job_id is None, "the create job to end")
    return started, xml


@pytest.fixture(scope="module")
def cloud_guest(
    tcp_uri: str,
    tcp_host: Host,
    pool: tuple[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CloudGuest]:
    work = tmp_path_factory.mktemp("cloudguest")
    key = work / "id_ed25519"
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kvmtui-test", "-f", str(key))
    suffix = uuid.uuid4().hex[:8]
    name, hostname = f"kvmtui-test-ci-{suffix}", f"ci-{suffix}"
    public = (work / "id_ed25519.pub").read_text()
    conn = tcp_host.connection("test")
    with namespace() as ns, bridge() as br:
        try:
            started, xml = asyncio.run(
                create_through_the_wizard(tcp_uri, name, pool[0], br, hostname, public, ns)
            )
            yield CloudGuest(conn.lookupByName(name), hostname, key, ns, started, xml)
        finally:
            for dom in [d for d in conn.listAllDomains(0) if d.name() == name]:
                with contextlib.suppress(libvirt.libvirtError):
                    destroy_and_undefine(dom)


def test_the_wizard_attached_the_uploaded_seed_and_the_overlay(
    cloud_guest: CloudGuest, tcp_host: Host, pool: tuple[str, Path]
) -> None:
    """The seed is a volume of the pool (uploaded, named by pool and volume in the
    definition, not by a host path) on a read-only virtio disk; the first disk is a thin
    overlay whose backing store is the image."""
    name = cloud_guest.dom.name()
    disks = {}
    for disk in ET.fromstring(cloud_guest.xml).findall("devices/disk"):
        source, target = disk.find("source"), disk.find("target")
        assert source is not None and target is not None
        disks[source.get("volume")] = (source.get("pool"), target.get("bus"),
                                       disk.find("readonly") is not None)  # fmt: skip
    assert disks[seed.seed_volume_name(name)] == (pool[0], "virtio", True)
    assert disks[f"{name}.qcow2"] == (pool[0], "virtio", False)
    libvirt_pool = tcp_host.connection("t").storagePoolLookupByName(pool[0])
    overlay = ET.fromstring(libvirt_pool.storageVolLookupByName(f"{name}.qcow2").XMLDesc(0))
    assert overlay.findtext("backingStore/path") == str(pool[1] / IMAGE)


def test_agent_reports_the_seeded_hostname(cloud_guest: CloudGuest) -> None:
    try:
        wait_for_agent(cloud_guest.dom, BOOT_DEADLINE_S)
    except AgentTimeout as exc:
        pytest.fail(str(exc), pytrace=False)

    def seeded_name() -> str | None:
        with contextlib.suppress(libvirt.libvirtError):
            reply = agent_command(cloud_guest.dom, "guest-get-host-name")
            name = reply.get("host-name") if isinstance(reply, dict) else None
            return name if name == cloud_guest.hostname else None
        return None

    wait_for(seeded_name, timeout=60, interval=1, what=f"host name {cloud_guest.hostname}")
    print(f"agent reported {cloud_guest.hostname} {time.monotonic() - cloud_guest.started:.1f} s")


def test_ssh_with_the_seeded_key_runs_in_the_guest(cloud_guest: CloudGuest) -> None:
    ssh = (
        "ip", "netns", "exec", cloud_guest.namespace, "ssh", "-i", str(cloud_guest.key),
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
        f"{USER}@{GUEST_ADDRESS}", "hostname",
    )  # fmt: skip
    attempts: list[subprocess.CompletedProcess[str]] = []

    def answered() -> subprocess.CompletedProcess[str] | None:
        attempts.append(run(*ssh, check=False))
        return attempts[-1] if attempts[-1].returncode == 0 else None

    left = cloud_guest.started + BOOT_DEADLINE_S - time.monotonic()
    try:
        result = wait_for(answered, timeout=max(left, 1), interval=1, what="ssh to answer")
    except AssertionError as exc:
        last = attempts[-1].stderr.strip() if attempts else "no attempt"
        pytest.fail(f"{exc}: {last}", pytrace=False)
    assert result.stdout.strip() == cloud_guest.hostname
    print(f"ssh answered {time.monotonic() - cloud_guest.started:.1f} s after start")


def test_the_details_ssh_line_is_the_one_that_works(
    tcp_host: Host, cloud_guest: CloudGuest
) -> None:
    """What the details show (backend/addresses.py) over the remote connection: the
    agent's address of the guest and ``ssh USER@ADDRESS`` with the user read back from
    the seed — the line the ssh test above ran."""
    uuid_ = cloud_guest.dom.UUIDString()
    user = read_user(tcp_host, read_guest_seed(tcp_host, uuid_))
    assert user == USER
    found = read_addresses(tcp_host, uuid_, user)
    assert found.source == "agent", found.notes
    assert [a.address for a in found.addresses if a.family == 4] == [GUEST_ADDRESS]
    assert found.ssh_line == f"ssh {USER}@{GUEST_ADDRESS}"


def test_the_seed_is_detached_once_cloud_init_finished(
    tcp_host: Host, pool: tuple[str, Path], cloud_guest: CloudGuest
) -> None:
    """The wizard left "Detach the seed after the first boot" on: the definition carries
    kvmtui's mark. A seed watcher started now (as kvmtui starting on a host whose guest
    runs with its agent up) asks ``cloud-init status`` in the guest until it says the
    first boot ended, then detaches the seed from the definition and removes the mark;
    the volume stays in the pool."""
    assert SEED_DETACH_NAMESPACE in cloud_guest.xml
    dom = cloud_guest.dom
    volume = seed.seed_volume_name(dom.name())
    with watching(tcp_host, ask_again_s=2.0) as (_watcher, said):
        left = cloud_guest.started + BOOT_DEADLINE_S - time.monotonic()
        wait_for(lambda: said, timeout=max(left, 30), interval=0.5, what="the seed detached")
    assert "ended (cloud-init status: " in said[0], said
    assert volume not in dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) and not has_mark(dom)
    assert (pool[1] / volume).exists()
    print(f"{said[0]} ({time.monotonic() - cloud_guest.started:.1f} s after start)")


#: What identifies the guest's cloud-init instance, read through guest-exec once
#: cloud-init has ended this boot: the boot's id, the instance-id, the datasource, the SSH
#: host key's fingerprint, the host name and the seeded address; and, to see where a slow
#: boot spent its time, the uptime and systemd's slowest units.
IDENTITY_SCRIPT = """cloud-init status --wait >/dev/null
echo "boot: $(cat /proc/sys/kernel/random/boot_id)"
echo "instance-id: $(cloud-init query instance-id)"
echo "datasource: $(cloud-init query subplatform)"
echo "host key: $(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)"
echo "hostname: $(hostname)"
echo "address: $(ip -4 -o addr show scope global | awk '{print $4}' | paste -sd,)"
echo "uptime: $(cut -d' ' -f1 /proc/uptime)"
echo "slowest units: $(systemd-analyze blame | head -3 | tr -s ' ' | paste -sd,)"
"""


def identity(host: Host, dom: libvirt.virDomain) -> dict[str, str] | None:
    """The guest's identity lines, or None while its agent does not answer or the script
    was cut short (the guest rebooting)."""
    try:
        result = GuestAgent(host, dom.UUIDString()).exec(
            ["/bin/sh", "-c", IDENTITY_SCRIPT], limit_s=BOOT_DEADLINE_S
        )
    except KvmtuiError:
        return None
    if not result.finished or result.exit_code != 0:
        return None
    return dict(line.split(": ", 1) for line in result.stdout.splitlines())


def test_the_guest_stays_the_same_instance_after_a_reboot_without_its_seed(
    tcp_host: Host, cloud_guest: CloudGuest
) -> None:
    """Once the seed is detached, a reboot (through the agent) finds no NoCloud seed;
    cloud-init must keep the instance of the first boot (kvmtui's user-data sets
    ``manual_cache_clean``), not take DataSourceNone with a new instance-id and run
    per-instance modules again: the instance-id, the SSH host key, the host name and the
    seeded address are those of the first boot. Measured without kvmtui's setting:
    ``iid-datasource-none`` and a new host key."""
    dom = cloud_guest.dom
    before = wait_for(lambda: identity(tcp_host, dom), timeout=BOOT_DEADLINE_S, interval=2,
                      what="cloud-init's first boot to end")  # fmt: skip
    volume = seed.seed_volume_name(dom.name())
    if volume in dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE):  # run alone: detach it here
        detach_seed(tcp_host, dom.UUIDString())
    assert volume not in dom.XMLDesc(0), "the running guest still has its seed"
    started = time.monotonic()
    lifecycle.reboot(tcp_host, dom.UUIDString(), lifecycle.ShutdownMode.AGENT)

    gone: list[float] = []

    def rebooted() -> dict[str, str] | None:
        now = identity(tcp_host, dom)
        if now is None and not gone:
            gone.append(time.monotonic() - started)
        return now if now is not None and now["boot"] != before["boot"] else None

    after = wait_for(rebooted, timeout=BOOT_DEADLINE_S, interval=2, what="the reboot")
    print(f"before: {before}\nafter: {after}\nagent gone {gone} s after the reboot call, "
          f"back after {time.monotonic() - started:.1f} s")  # fmt: skip
    same = ("instance-id", "host key", "hostname", "address")
    assert {k: after[k] for k in same} == {k: before[k] for k in same}


def read_volume(host: Host, pool: str, name: str) -> bytes:
    conn = host.connection("test")
    vol = conn.storagePoolLookupByName(pool).storageVolLookupByName(name)
    stream = conn.newStream(0)
    vol.download(stream, 0, 0, 0)
    chunks = []
    while data := stream.recv(256 * 1024):
        if isinstance(data, int):
            break
        chunks.append(data)
    stream.finish()
    return b"".join(chunks)


def test_seed_uploaded_over_tcp_reads_back(tcp_host: Host, pool: tuple[str, Path]) -> None:
    files = cloudinit.raw_seed_files("#cloud-config\npackages: [htop]\n", "remote1")
    name = f"kvmtui-test-{uuid.uuid4().hex[:6]}{seed.SEED_SUFFIX}"
    outcome = upload(tcp_host, pool[0], name, files)
    assert f"as '{name}'" in outcome
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(read_volume(tcp_host, pool[0], name)))
    try:
        assert iso.pvd.volume_identifier.decode().strip() == seed.SEED_LABEL
        out = io.BytesIO()
        iso.get_file_from_iso_fp(out, rr_path="/user-data")
        assert out.getvalue().decode() == files.user_data
    finally:
        iso.close()
    seed.delete_seed(tcp_host, pool[0], name)
    assert not transfer.has_volume(
        tcp_host, tcp_host.connection("t").storagePoolLookupByName(pool[0]), name, "t"
    )


def test_a_failed_job_removes_its_seed(tcp_host: Host, pool: tuple[str, Path]) -> None:
    """A later step of the creation job fails: the seed it uploaded is deleted."""
    files = cloudinit.raw_seed_files("#cloud-config\n{}\n", "rollback1")
    name = f"kvmtui-test-{uuid.uuid4().hex[:6]}{seed.SEED_SUFFIX}"
    registry = JobRegistry(min_interval=0.05)

    def body(ctx: object) -> str:
        seed.upload_seed(ctx, tcp_host, pool[0], name, files)  # type: ignore[arg-type]
        raise KvmtuiError("defining the guest failed (forced by the test).")

    view = registry.start(tcp_host.label, "create", body)
    end = registry.wait(view.id, JOB_DEADLINE_S)
    assert end is not None and end.state is JobState.FAILED
    assert f"Removed the cloud-init seed '{name}'" in (end.outcome or "")
    libvirt_pool = tcp_host.connection("t").storagePoolLookupByName(pool[0])
    libvirt_pool.refresh(0)
    assert name not in libvirt_pool.listVolumes()


def test_a_taken_name_is_refused_before_anything_is_sent(
    tcp_host: Host, pool: tuple[str, Path]
) -> None:
    files = cloudinit.raw_seed_files("#cloud-config\n{}\n", "clash1")
    name = f"kvmtui-test-{uuid.uuid4().hex[:6]}{seed.SEED_SUFFIX}"
    upload(tcp_host, pool[0], name, files)
    before = tcp_host.connection("t").storagePoolLookupByName(pool[0]).listVolumes()
    registry = JobRegistry(min_interval=0.05)
    view = seed.start_seed_upload(registry, tcp_host, pool[0], name, files)
    end = registry.wait(view.id, JOB_DEADLINE_S)
    assert end is not None and end.state is JobState.FAILED
    assert "already has a volume named" in (end.outcome or "")
    after = tcp_host.connection("t").storagePoolLookupByName(pool[0]).listVolumes()
    assert sorted(after) == sorted(before)
    seed.delete_seed(tcp_host, pool[0], name)


def test_the_wizards_seed_is_removed_when_the_definition_is_refused(
    tcp_host: Host, pool: tuple[str, Path]
) -> None:
    """The create job with the wizard's seed step (``seed.seed_maker``): the overlay and
    the uploaded seed are made, libvirt refuses the definition (no such machine type), and
    the job removes both; nothing of the guest is left in the pool."""
    name = f"kvmtui-test-ci-{uuid.uuid4().hex[:8]}"
    seed_ref = VolumeRef(pool[0], seed.seed_volume_name(name))
    spec = NewGuest(
        name=name,
        disks=(DiskSpec(DiskKind.OVERLAY, VolumeRef(pool[0], IMAGE), pool=pool[0],
                        size_bytes=2 * GIB),),
        seed=SeedSpec(seed_ref),
        machine="kvmtui-no-such-machine",
        domain_type=domain_type(),
    )  # fmt: skip
    files = cloudinit.raw_seed_files("#cloud-config\n{}\n", "rollback2")
    registry = JobRegistry(min_interval=0.05)
    view = create.start_create(
        registry, tcp_host, spec, make_seed=seed.seed_maker(pool[0], str(seed_ref.name), files)
    )
    end = registry.wait(view.id, JOB_DEADLINE_S)
    assert end is not None and end.state is JobState.FAILED, end and end.outcome
    assert f"'{seed_ref.name}'" in (end.outcome or "") and "Removed" in (end.outcome or "")
    libvirt_pool = tcp_host.connection("t").storagePoolLookupByName(pool[0])
    libvirt_pool.refresh(0)
    assert [v for v in libvirt_pool.listVolumes() if v.startswith(name)] == []
