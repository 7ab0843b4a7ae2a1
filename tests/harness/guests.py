"""Define, boot and remove tiny real guests through libvirt-python."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Protocol
from xml.sax.saxutils import escape

import libvirt
import libvirt_qemu

from .guest_files import AGENT_PORT
from .image import GuestImage, build_image
from .paths import CACHE_DIR, DEMO_DISKS_DIR, DEMO_PREFIX, DISKS_DIR

DOMAIN_TYPE_ENV = "KVMTUI_DOMAIN_TYPE"
DOMAIN_TYPE_CACHE = CACHE_DIR / "domain-type.json"
PROBE_GUEST = "kvmtui-probe-kvm"
PROBE_DEADLINE_S = 20.0  # a KVM guest reaches its agent in about 2 s; TCG never counts here
DISK_SIZE = "64M"
# Each guest records the process that made it, so a cleanup skips guests that belong to
# another live test session on the same host.
OWNER_NS = "https://kvmtui.invalid/harness"
POLL_S = 0.25

UNDEFINE_FLAGS = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
)


class AgentTimeout(TimeoutError):
    """The guest agent did not answer guest-ping before the deadline."""


def quiet_libvirt_errors() -> None:
    """Stop libvirt's C library printing every error to stderr; exceptions still raise."""
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def tap_name(guest_name: str) -> str:
    """A host tap name unique per guest name, within Linux's 15-character limit."""
    return "kvt-" + hashlib.sha1(guest_name.encode()).hexdigest()[:10]


def disks_dir(guest_name: str) -> Path:
    """Demo guests keep their disks apart, in the demo pool's directory."""
    return DEMO_DISKS_DIR if guest_name.startswith(DEMO_PREFIX) else DISKS_DIR


def disk_path(guest_name: str) -> Path:
    return disks_dir(guest_name) / f"{guest_name}.qcow2"


def create_disk(guest_name: str) -> Path:
    """A fresh thin qcow2 data disk for the guest (replaces an old one)."""
    disks_dir(guest_name).mkdir(parents=True, exist_ok=True)
    path = disk_path(guest_name)
    path.unlink(missing_ok=True)
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(path), DISK_SIZE],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path


def remove_disks(guest_name: str) -> None:
    """The guest's data disk and any overlay files named after it (external snapshots)."""
    for path in disks_dir(guest_name).glob(f"{guest_name}.*"):
        path.unlink(missing_ok=True)


# A guest with a display: VGA video, the kernel log on tty0 as well as ttyS0 (the last
# console= stays /dev/console, so the serial console is unchanged) and a shell on tty1.
DISPLAY_CMDLINE = "console=tty0 kvmtui.tty1"


def guest_xml(
    name: str,
    image: GuestImage,
    *,
    domain_type: str,
    memory_mib: int,
    vcpus: int,
    disk: Path,
    display: bool = False,
) -> str:
    tcg = (
        "<features><acpi/></features>"
        if domain_type != "qemu"
        else "<features><acpi/><tcg><tb-cache unit='MiB'>32</tb-cache></tcg></features>"
    )
    cmdline = f"{DISPLAY_CMDLINE} {image.cmdline}" if display else image.cmdline
    video = "vga" if display else "none"
    return f"""<domain type='{domain_type}'>
  <name>{escape(name)}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <currentMemory unit='MiB'>{memory_mib}</currentMemory>
  <vcpu>{vcpus}</vcpu>
  <metadata>
    <harness:owner xmlns:harness='{OWNER_NS}' pid='{os.getpid()}'/>
  </metadata>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{escape(str(image.kernel))}</kernel>
    <initrd>{escape(str(image.initrd))}</initrd>
    <cmdline>{escape(cmdline)}</cmdline>
  </os>
  {tcg}
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{escape(str(disk))}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='ethernet'>
      <target dev='{tap_name(name)}' managed='yes'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <channel type='unix'>
      <target type='virtio' name='{AGENT_PORT}'/>
    </channel>
    <memballoon model='virtio'><stats period='2'/></memballoon>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <video><model type='{video}'/></video>
  </devices>
</domain>
"""


def memory_hotplug_xml(xml: str, max_mib: int, slots: int = 2) -> str:
    """A guest definition given memory hot-plug: ``<maxMemory slots>`` and one NUMA cell
    holding its 256 MiB and vCPUs 0-1 (a DIMM goes on a NUMA node)."""
    return xml.replace(
        "<memory unit='KiB'>",
        f"<maxMemory slots='{slots}' unit='MiB'>{max_mib}</maxMemory><memory unit='KiB'>",
        1,
    ).replace(
        "</os>",
        "</os><cpu><numa><cell id='0' cpus='0-1' memory='256' unit='MiB'/></numa></cpu>",
        1,
    )


def agent_command(
    dom: libvirt.virDomain, command: str, arguments: dict | None = None, timeout_s: int = 5
) -> object:
    """Run one guest-agent command and return its `return` value."""
    request: dict[str, object] = {"execute": command}
    if arguments:
        request["arguments"] = arguments
    reply = libvirt_qemu.qemuAgentCommand(dom, json.dumps(request), timeout_s, 0)
    return json.loads(reply)["return"]


def wait_for_agent(dom: libvirt.virDomain, timeout: float = 60.0) -> float:
    """Poll guest-ping until the agent answers; return the seconds waited."""
    started = time.monotonic()
    deadline = started + timeout
    last_error = "no attempt"
    while True:
        try:
            agent_command(dom, "guest-ping", timeout_s=1)
            return time.monotonic() - started
        except libvirt.libvirtError as error:
            last_error = str(error)
            if not dom.isActive():
                raise AgentTimeout(
                    f"guest {dom.name()} stopped while waiting for its agent"
                ) from error
        if time.monotonic() >= deadline:
            raise AgentTimeout(
                f"guest {dom.name()}: agent did not answer guest-ping within {timeout:.0f} s "
                f"(last error: {last_error})"
            )
        time.sleep(POLL_S)


def _probe_kvm(conn: libvirt.virConnect, image: GuestImage) -> bool:
    """Boot a transient KVM guest: True if its agent answers (a real KVM host)."""
    for dom in _domains_named(conn, PROBE_GUEST):
        destroy_and_undefine(dom)
    disk = create_disk(PROBE_GUEST)
    xml = guest_xml(PROBE_GUEST, image, domain_type="kvm", memory_mib=256, vcpus=1, disk=disk)
    try:
        dom = conn.createXML(xml, 0)
    except libvirt.libvirtError:
        remove_disks(PROBE_GUEST)
        return False
    try:
        wait_for_agent(dom, PROBE_DEADLINE_S)
        return True
    except AgentTimeout:
        return False
    finally:
        destroy_and_undefine(dom)


def domain_type(conn: libvirt.virConnect | None = None, image: GuestImage | None = None) -> str:
    """`kvm` or `qemu` (TCG) for test guests.

    $KVMTUI_DOMAIN_TYPE wins. Else no /dev/kvm means qemu; else a boot probe decides
    (a nested paravirtual /dev/kvm may run guests that never print a byte), cached in
    .cache/domain-type.json per host kernel.
    """
    forced = os.environ.get(DOMAIN_TYPE_ENV, "").strip()
    if forced:
        if forced not in {"kvm", "qemu"}:
            raise ValueError(f"{DOMAIN_TYPE_ENV} must be kvm or qemu, not {forced!r}")
        return forced
    if not os.path.exists("/dev/kvm"):
        return "qemu"
    host = os.uname().release
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / "domain-type.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one probe at a time across processes
        try:
            cached = json.loads(DOMAIN_TYPE_CACHE.read_text())
            if cached.get("host_kernel") == host and cached.get("type") in {"kvm", "qemu"}:
                return str(cached["type"])
        except (OSError, ValueError):
            pass
        own_conn = conn is None
        conn = conn or libvirt.open("qemu:///system")
        try:
            chosen = "kvm" if _probe_kvm(conn, image or build_image()) else "qemu"
        finally:
            if own_conn:
                conn.close()
        DOMAIN_TYPE_CACHE.write_text(json.dumps({"host_kernel": host, "type": chosen}) + "\n")
    return chosen


def define_guest(
    conn: libvirt.virConnect,
    name: str,
    image: GuestImage,
    *,
    memory_mib: int = 256,
    vcpus: int = 1,
    start: bool = True,
    display: bool = False,
) -> libvirt.virDomain:
    """Define a persistent tiny guest with a fresh data disk; start it unless start=False.

    display=True gives it a VGA screen with the kernel log and a shell on tty1.
    """
    xml = guest_xml(
        name,
        image,
        domain_type=domain_type(conn, image),
        memory_mib=memory_mib,
        vcpus=vcpus,
        disk=create_disk(name),
        display=display,
    )
    dom = conn.defineXML(xml)
    if start:
        dom.create()
    return dom


def pool_xml(name: str, directory: Path) -> str:
    return (
        f"<pool type='dir'><name>{escape(name)}</name>"
        f"<target><path>{escape(str(directory))}</path></target></pool>"
    )


def ensure_dir_pool(conn: libvirt.virConnect, name: str, directory: Path) -> list[str]:
    """A persistent, autostarted, running directory pool NAME over DIRECTORY, refreshed
    so that the files in it are its volumes. Does only what is missing; returns what it
    did (nothing the second time). A pool NAME over another directory is an error."""
    done: list[str] = []
    directory.mkdir(parents=True, exist_ok=True)
    try:
        pool = conn.storagePoolLookupByName(name)
    except libvirt.libvirtError as error:
        if error.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_POOL:
            raise
        pool = conn.storagePoolDefineXML(pool_xml(name, directory), 0)
        done.append("defined")
    path = re.search(r"<path>(.*?)</path>", pool.XMLDesc(0))
    if path is None or Path(path.group(1)) != directory:
        raise RuntimeError(
            f"a storage pool {name} exists over {path.group(1) if path else 'no directory'}, "
            f"not {directory}; remove it (virsh pool-destroy {name}; virsh pool-undefine "
            f"{name}) and run again"
        )
    if not pool.isActive():
        pool.create(0)
        done.append("started")
    if not pool.autostart():
        pool.setAutostart(1)
        done.append("set to autostart")
    pool.refresh(0)
    return done


def remove_pool(conn: libvirt.virConnect, name: str) -> None:
    """Stop and undefine the pool NAME if it exists; its directory and files stay."""
    try:
        pool = conn.storagePoolLookupByName(name)
    except libvirt.libvirtError as error:
        if error.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_POOL:
            raise
        return
    if pool.isActive():
        pool.destroy()
    pool.undefine()


def _gone(error: libvirt.libvirtError) -> bool:
    return error.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN


def destroy_and_undefine(dom: libvirt.virDomain) -> None:
    """Power the guest off hard, forget it (snapshots, managed save too), drop its disks.

    A guest that is already gone (transient and destroyed, or undefined) is fine.
    """
    name = dom.name()
    try:
        if dom.isActive():
            dom.destroy()
        if dom.isPersistent():
            try:
                dom.undefineFlags(UNDEFINE_FLAGS)
            except libvirt.libvirtError as error:
                if _gone(error):
                    raise
                dom.undefine()
    except libvirt.libvirtError as error:
        if not _gone(error):
            raise
    remove_disks(name)


def _domains_named(conn: libvirt.virConnect, name: str) -> list[libvirt.virDomain]:
    return [dom for dom in conn.listAllDomains(0) if dom.name() == name]


def _owner_pid(dom: libvirt.virDomain) -> int | None:
    try:
        owner = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, OWNER_NS, 0)
        match = re.search(r"pid=['\"](\d+)", owner)
    except libvirt.libvirtError:
        return None
    return int(match.group(1)) if match else None


def _owned_by_other_live_process(dom: libvirt.virDomain) -> bool:
    pid = _owner_pid(dom)
    if pid is None or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_guests(
    conn: libvirt.virConnect, prefix: str, *, spare_live_owners: bool = True
) -> list[str]:
    """Destroy and undefine guests whose name starts with PREFIX; return their names.

    Guests made by another process that still runs (a concurrent test session) are
    spared unless spare_live_owners=False.
    """
    removed = []
    for dom in conn.listAllDomains(0):
        if not dom.name().startswith(prefix):
            continue
        if spare_live_owners and _owned_by_other_live_process(dom):
            continue
        destroy_and_undefine(dom)
        removed.append(dom.name())
    return removed


def wait_for_state(dom: libvirt.virDomain, state: int, timeout: float) -> float:
    """Poll until the guest reaches STATE (a VIR_DOMAIN_* state); the seconds waited."""
    started = time.monotonic()
    while dom.state()[0] != state:
        if time.monotonic() - started >= timeout:
            raise TimeoutError(
                f"guest {dom.name()} is in state {dom.state()} after {timeout:.0f} s, not {state}"
            )
        time.sleep(POLL_S)
    return time.monotonic() - started


class GuestFactory(Protocol):
    """What the guest_factory fixture returns."""

    def __call__(
        self, *, memory_mib: int = 256, vcpus: int = 1, start: bool = True, display: bool = False
    ) -> libvirt.virDomain: ...
