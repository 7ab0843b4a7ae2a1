"""A real libvirtd (plus virtlogd) run by hand, without systemd.

Standard library only. ensure_daemon() leaves an answering daemon alone; otherwise it
prepares users, directories and configuration and starts virtlogd and libvirtd.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

SYSTEM_URI = "qemu:///system"
TCP_URI = "qemu+tcp://127.0.0.1/system"
TCP_ADDRESS = ("127.0.0.1", 16509)

LIBVIRTD_PIDFILE = Path("/run/libvirtd.pid")
VIRTLOGD_PIDFILE = Path("/run/virtlogd.pid")
LIBVIRTD_LOG = Path("/var/log/libvirt/libvirtd.log")
QEMU_CONF = Path("/etc/libvirt/qemu.conf")
LIBVIRTD_CONF = Path("/etc/libvirt/libvirtd.conf")
STATE_DIRS = (
    Path("/var/log/libvirt"),
    Path("/var/lib/libvirt/qemu"),
    Path("/var/cache/libvirt/qemu"),
    Path("/run/libvirt"),
)

QEMU_SETTINGS = {"user": '"root"', "group": '"root"', "security_driver": '"none"'}
LIBVIRTD_SETTINGS = {
    "listen_tls": "0",
    "listen_tcp": "1",
    "listen_addr": '"127.0.0.1"',
    "auth_tcp": '"none"',
    "log_outputs": f'"3:file:{LIBVIRTD_LOG}"',
}
START_DEADLINE_S = 60.0  # the first start probes QEMU's capabilities (about 7.5 s)
KILL_DEADLINE_S = 10.0
STOP_DEADLINE_S = 30.0
POLL_S = 0.1


class DaemonError(RuntimeError):
    """libvirtd could not be brought up or down."""


def daemon_answers(uri: str = SYSTEM_URI) -> bool:
    """True when `virsh -c URI version` answers within a few seconds."""
    try:
        result = subprocess.run(
            ["virsh", "-c", uri, "version"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def tcp_listening() -> bool:
    """True when something accepts connections on 127.0.0.1:16509."""
    try:
        with socket.create_connection(TCP_ADDRESS, timeout=1.0):
            return True
    except OSError:
        return False


def set_conf(path: Path, settings: dict[str, str]) -> bool:
    """Make `key = value` lines in a libvirt .conf file; idempotent. True if changed.

    Active lines for these keys are replaced in place (or appended); the first edit of
    an existing file keeps a `.kvmtui-orig` backup beside it.
    """
    old_text = path.read_text() if path.exists() else ""
    lines = old_text.splitlines()
    pending = dict(settings)
    new_lines: list[str] = []
    for line in lines:
        match = re.match(r"\s*([A-Za-z_]+)\s*=", line)
        if match and match.group(1) in settings:
            key = match.group(1)
            if key in pending:
                new_lines.append(f"{key} = {pending.pop(key)}")
            continue  # a repeated active line for a key we own: drop it
        new_lines.append(line)
    if pending:
        new_lines.append("# set by the kvmtui test harness (tests/harness/daemon.py)")
        new_lines.extend(f"{key} = {value}" for key, value in pending.items())
    new_text = "\n".join(new_lines) + "\n"
    if new_text == old_text:
        return False
    backup = path.with_name(path.name + ".kvmtui-orig")
    if path.exists() and not backup.exists():
        backup.write_text(old_text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new_text)
    return True


def prepare_host() -> None:
    """Users, directories and configuration libvirtd needs; safe to repeat."""
    try:
        grp.getgrnam("libvirt-qemu")
    except KeyError:
        subprocess.run(["groupadd", "-r", "libvirt-qemu"], check=True)
    try:
        pwd.getpwnam("libvirt-qemu")
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "-r",
                "-g",
                "libvirt-qemu",
                "-d",
                "/var/lib/libvirt",
                "-s",
                "/usr/sbin/nologin",
                "libvirt-qemu",
            ],
            check=True,
        )
    for directory in STATE_DIRS:
        directory.mkdir(parents=True, exist_ok=True)
    set_conf(QEMU_CONF, QEMU_SETTINGS)
    set_conf(LIBVIRTD_CONF, LIBVIRTD_SETTINGS)


def _pid_alive(pidfile: Path) -> int | None:
    """The pid in PIDFILE if that process still runs."""
    try:
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def _log_tail(lines: int = 15) -> str:
    try:
        return "\n".join(LIBVIRTD_LOG.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no libvirtd log)"


def start_daemon(deadline_s: float = START_DEADLINE_S) -> float:
    """Start virtlogd and libvirtd --listen; wait until qemu:///system answers.

    Returns the seconds it took. Raises DaemonError with the log tail on failure.
    """
    if os.geteuid() != 0:
        raise DaemonError("starting libvirtd needs root (run: sudo make daemon)")
    prepare_host()
    started = time.monotonic()
    if _pid_alive(VIRTLOGD_PIDFILE) is None:
        subprocess.run(["virtlogd", "-d"], check=True, stdin=subprocess.DEVNULL)
    if _pid_alive(LIBVIRTD_PIDFILE) is None:
        subprocess.run(
            ["libvirtd", "-d", "--listen", "--pid-file", str(LIBVIRTD_PIDFILE)],
            check=True,
            stdin=subprocess.DEVNULL,
        )
    deadline = started + deadline_s
    while time.monotonic() < deadline:
        if daemon_answers(SYSTEM_URI):
            return time.monotonic() - started
        if _pid_alive(LIBVIRTD_PIDFILE) is None and time.monotonic() - started > 2.0:
            raise DaemonError(f"libvirtd exited while starting; log tail:\n{_log_tail()}")
        time.sleep(POLL_S)
    raise DaemonError(
        f"libvirtd did not answer on {SYSTEM_URI} within {deadline_s:.0f} s; "
        f"log tail:\n{_log_tail()}"
    )


def terminate(pid: int, deadline_s: float) -> bool:
    """SIGTERM, then SIGKILL after DEADLINE_S; True when it ended by itself. (libvirtd
    waits for in-flight calls before it exits; a test must not wait forever for a call
    stuck in a guest. Guests keep running either way.)"""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(POLL_S)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return False


def stop_daemon(deadline_s: float = STOP_DEADLINE_S) -> None:
    """Stop the libvirtd named by its pidfile; running guests keep running."""
    pid = _pid_alive(LIBVIRTD_PIDFILE)
    if pid is None:
        if daemon_answers(SYSTEM_URI):
            raise DaemonError(f"libvirtd answers but {LIBVIRTD_PIDFILE} names no live process")
        return
    deadline = time.monotonic() + deadline_s
    if not terminate(pid, deadline_s):
        deadline = time.monotonic() + KILL_DEADLINE_S
    while daemon_answers(SYSTEM_URI):
        if time.monotonic() > deadline:
            raise DaemonError(f"libvirtd (pid {pid}) still answers after SIGTERM and SIGKILL")
        time.sleep(POLL_S)


def ensure_daemon() -> None:
    """Leave an answering daemon alone; otherwise start one."""
    if daemon_answers(SYSTEM_URI):
        return
    start_daemon()
