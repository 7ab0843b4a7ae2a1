"""A second libvirtd on the same machine, which libvirt takes for another host.

It runs in a network namespace of its own (a veth pair: 10.251.0.1 on the host side,
10.251.0.2 inside) and a mount namespace of its own, where private directories are
bound over libvirt's configuration, run, state, log and cache paths. It has its own
``virtlogd``, its own ``host_uuid`` (libvirt refuses a migration between hosts that
report the same one) and listens on TCP 10.251.0.2:16509 without authentication (for
tests only). Every other path is the host's: the guests' disks and images are at the
same path on both, as on shared storage. :data:`PRIVATE_DIR` is the exception: each
daemon sees a directory of its own there, for copy-storage migration.

The first daemon (tests/harness/daemon.py) is never touched: nothing here restarts or
reconfigures it. Standard library only; root only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

from .daemon import DaemonError, _pid_alive, daemon_answers, terminate

NETNS = "kvmtui-host2"
VETH_HOST, VETH_NS = "kvt-h2-out", "kvt-h2-in"
HOST_ADDRESS, NS_ADDRESS = "10.251.0.1", "10.251.0.2"
PREFIX_LEN = 30
URI = f"qemu+tcp://{NS_ADDRESS}/system"
HOSTNAME = "kvmtui-host2"

#: Everything of the second daemon lives under here (bound over the standard paths).
ROOT = Path("/var/lib/kvmtui-host2")
BOUND = {
    "etc": Path("/etc/libvirt"),
    "run": Path("/run/libvirt"),
    "lib": Path("/var/lib/libvirt"),
    "log": Path("/var/log/libvirt"),
    "cache": Path("/var/cache/libvirt"),
}
#: Seen at the same path by both daemons, but a different directory on each: the first
#: daemon sees the host's directory, the second its own under ROOT.
PRIVATE_DIR = Path("/var/lib/kvmtui-private-disks")
PRIVATE_BACKING = ROOT / "private-disks"
LIBVIRTD_PIDFILE = ROOT / "libvirtd.pid"
VIRTLOGD_PIDFILE = ROOT / "virtlogd.pid"
LOG = ROOT / "log" / "libvirtd.log"
FIRST_CAPS_CACHE = Path("/var/cache/libvirt/qemu/capabilities")

START_DEADLINE_S = 60.0
STOP_DEADLINE_S = 20.0
POLL_S = 0.1


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), capture_output=True, text=True, stdin=subprocess.DEVNULL, check=check
    )


def tcp_listening() -> bool:
    try:
        with socket.create_connection((NS_ADDRESS, 16509), timeout=1.0):
            return True
    except OSError:
        return False


def running() -> bool:
    return _pid_alive(LIBVIRTD_PIDFILE) is not None and daemon_answers(URI)


def status() -> str:
    """One sentence on the second daemon's state."""
    if running():
        return f"the second libvirtd (pid {_pid_alive(LIBVIRTD_PIDFILE)}) answers on {URI}"
    if _pid_alive(LIBVIRTD_PIDFILE) is not None:
        return f"the second libvirtd runs (pid {_pid_alive(LIBVIRTD_PIDFILE)}) but does not answer"
    return "the second libvirtd is not running"


def _netns_exists() -> bool:
    return NETNS in _run("ip", "netns", "list", check=False).stdout.split()


def _make_network() -> None:
    """The namespace and the veth pair; idempotent."""
    if not _netns_exists():
        _run("ip", "netns", "add", NETNS)
    link = _run("ip", "link", "show", VETH_HOST, check=False)
    if link.returncode != 0:
        _run("ip", "link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS)
        _run("ip", "link", "set", VETH_NS, "netns", NETNS)
        _run("ip", "addr", "add", f"{HOST_ADDRESS}/{PREFIX_LEN}", "dev", VETH_HOST)
        _run("ip", "link", "set", VETH_HOST, "up")
        inside = ("ip", "netns", "exec", NETNS)
        _run(*inside, "ip", "addr", "add", f"{NS_ADDRESS}/{PREFIX_LEN}", "dev", VETH_NS)
        _run(*inside, "ip", "link", "set", VETH_NS, "up")
        _run(*inside, "ip", "link", "set", "lo", "up")


def _remove_network() -> None:
    _run("ip", "link", "del", VETH_HOST, check=False)  # takes its peer with it
    if _netns_exists():
        _run("ip", "netns", "del", NETNS, check=False)


def _write_config(host_uuid: str) -> None:
    etc = ROOT / "etc"
    (etc / "qemu").mkdir(parents=True, exist_ok=True)
    (etc / "libvirtd.conf").write_text(
        "# the kvmtui test harness's second daemon (tests/harness/daemon2.py)\n"
        "listen_tls = 0\nlisten_tcp = 1\n"
        f'listen_addr = "{NS_ADDRESS}"\nauth_tcp = "none"\n'
        f'host_uuid = "{host_uuid}"\n'
        f'log_outputs = "3:file:{BOUND["log"] / "libvirtd.log"}"\n'
    )
    (etc / "qemu.conf").write_text(
        'user = "root"\ngroup = "root"\nsecurity_driver = "none"\n'
        f'migration_address = "{NS_ADDRESS}"\nmigration_host = "{NS_ADDRESS}"\n'
    )
    (etc / "virtlogd.conf").write_text("")


def _prepare_dirs() -> None:
    for name in BOUND:
        (ROOT / name).mkdir(parents=True, exist_ok=True)
    for sub in ("qemu", "network", "storage"):
        (ROOT / "lib" / sub).mkdir(parents=True, exist_ok=True)
    (ROOT / "cache" / "qemu").mkdir(parents=True, exist_ok=True)
    PRIVATE_DIR.mkdir(parents=True, exist_ok=True)
    PRIVATE_BACKING.mkdir(parents=True, exist_ok=True)
    caps = ROOT / "cache" / "qemu" / "capabilities"
    if FIRST_CAPS_CACHE.is_dir() and not caps.exists():
        # QEMU's capabilities probed once already: the second start takes 0.15 s, not 8 s.
        shutil.copytree(FIRST_CAPS_CACHE, caps)
    uuid_file = ROOT / "host-uuid"
    if not uuid_file.exists():
        uuid_file.write_text(str(uuid.uuid4()) + "\n")
    _write_config(uuid_file.read_text().strip())


def _inner_script() -> str:
    """What runs inside the new mount (and UTS) namespace: the binds, then the daemons."""
    binds = [f"mount --bind {ROOT / name} {path}" for name, path in BOUND.items()]
    binds.append(f"mount --bind {PRIVATE_BACKING} {PRIVATE_DIR}")
    return " && ".join(
        [
            "mount --make-rprivate /",
            *binds,
            "{ mount -t tmpfs tmpfs /run/dbus 2>/dev/null || true; }",
            f"hostname {HOSTNAME}",
            f"virtlogd -d -p {VIRTLOGD_PIDFILE}",
            f"libvirtd -d --listen -p {LIBVIRTD_PIDFILE}",
        ]
    )


def _log_tail(lines: int = 12) -> str:
    try:
        return "\n".join(LOG.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(deadline_s: float = START_DEADLINE_S) -> float:
    """Start the second daemon unless it answers; the seconds it took."""
    if running():
        return 0.0
    if os.geteuid() != 0:
        raise DaemonError("the second libvirtd needs root (network and mount namespaces)")
    for tool in ("ip", "unshare", "libvirtd", "virtlogd"):
        if shutil.which(tool) is None:
            raise DaemonError(f"the second libvirtd needs `{tool}`, which is not installed")
    stop()  # a half-started one from before: its namespace and processes go first
    started = time.monotonic()
    _prepare_dirs()
    try:
        _make_network()
    except subprocess.CalledProcessError as error:
        _remove_network()
        raise DaemonError(
            f"could not make network namespace {NETNS}: {error.stderr.strip() or error}"
        ) from error
    result = _run(
        "ip", "netns", "exec", NETNS,
        "unshare", "-m", "-u", "--propagation", "private", "sh", "-c", _inner_script(),
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        stop()
        raise DaemonError(
            f"the second libvirtd did not start: {result.stderr.strip() or result.returncode}"
        )
    deadline = started + deadline_s
    while time.monotonic() < deadline:
        if daemon_answers(URI):
            return time.monotonic() - started
        if _pid_alive(LIBVIRTD_PIDFILE) is None and time.monotonic() - started > 2.0:
            stop()
            raise DaemonError(f"the second libvirtd exited while starting; log:\n{_log_tail()}")
        time.sleep(POLL_S)
    stop()
    raise DaemonError(f"the second libvirtd did not answer on {URI} in {deadline_s:.0f} s")


def _destroy_guests() -> None:
    """Power off what runs on the second daemon (its QEMUs would outlive it)."""
    if not daemon_answers(URI):
        return
    _run("sh", "-c", f"for d in $(virsh -c {URI} list --name); do "
         f"virsh -c {URI} destroy $d; done", check=False)  # fmt: skip


def _kill(pidfile: Path) -> None:
    pid = _pid_alive(pidfile)
    if pid is not None:
        terminate(pid, STOP_DEADLINE_S)
    pidfile.unlink(missing_ok=True)


def stop() -> None:
    """Stop the second daemon and its virtlogd; remove the namespace and the veth pair.

    Its guests are powered off; its definitions stay under ROOT for the next start."""
    _destroy_guests()
    _kill(LIBVIRTD_PIDFILE)
    _kill(VIRTLOGD_PIDFILE)
    _remove_network()
