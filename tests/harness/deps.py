"""Debian packages the harness needs: check them, install them as root.

Runs with the system python3 and the standard library only: it comes before the venv,
and libvirt-python cannot be built until libvirt-dev is here.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

# Never libvirt-daemon-system: it pulls systemd, policykit and iptables.
REQUIRED_PACKAGES: tuple[str, ...] = (
    "libvirt-daemon",
    "libvirt-daemon-driver-qemu",
    "libvirt-clients",
    "qemu-system-x86",
    "qemu-utils",
    "libvirt-dev",
    "pkg-config",
    "busybox-static",
    "cpio",
    "osinfo-db",  # the OS list of the new-guest wizard (backend/osinfo.py)
    # The cloud-init test image (tests/harness/cloudimage.py) and its end-to-end test:
    # the root, its filesystem without a loop device, ssh into a test namespace.
    "debootstrap",
    "e2fsprogs",
    "grub-pc-bin",
    "iproute2",
    "openssh-client",
    # kvmtui itself: cloud-init passwords are hashed by `openssl passwd -6`.
    "openssl",
    # bench/create_bench.py only: virt-install --import is its baseline. kvmtui itself
    # never runs virt-install (the wizard shows the equivalent line to keep).
    "virtinst",
    # UEFI guests (wizard firmware page, NVRAM copy on clone): the OVMF loader, its NVRAM
    # template and the firmware descriptors libvirt reads from /usr/share/qemu/firmware.
    "ovmf",
)

POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "APT_LISTCHANGES_FRONTEND": "none"}


def needed_packages() -> list[str]:
    """The packages this machine needs, including what building the venv needs."""
    packages = list(REQUIRED_PACKAGES)
    if importlib.util.find_spec("ensurepip") is None:
        packages.append("python3-venv")  # Debian splits ensurepip out of python3
    include_dir = sysconfig.get_paths().get("include", "")
    if not (Path(include_dir) / "Python.h").exists():
        packages.append("python3-dev")  # libvirt-python compiles a C extension
    if shutil.which("gcc") is None:
        packages.append("gcc")
    return packages


def missing_packages(packages: list[str]) -> list[str]:
    """The packages dpkg does not report as installed."""
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package}\t${Status}\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    installed = {
        line.split("\t", 1)[0].split(":", 1)[0]
        for line in result.stdout.splitlines()
        if line.endswith("install ok installed")
    }
    return [name for name in packages if name not in installed]


def apt_install_command(packages: list[str]) -> list[str]:
    return ["apt-get", "install", "-y", "--no-install-recommends", *packages]


def install_packages(packages: list[str]) -> None:
    """apt-get install as root, without letting package scripts start services."""
    if not POLICY_RC_D.exists():
        POLICY_RC_D.write_text("#!/bin/sh\n# kvmtui harness: never start services\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
    env = {**os.environ, **APT_ENV}
    subprocess.run(["apt-get", "update"], check=True, env=env, stdin=subprocess.DEVNULL)
    subprocess.run(apt_install_command(packages), check=True, env=env, stdin=subprocess.DEVNULL)


def ensure_packages() -> int:
    """Return a process exit code: 0 when everything is (now) installed."""
    missing = missing_packages(needed_packages())
    if not missing:
        print("deps: all Debian packages present")
        return 0
    if os.geteuid() != 0:
        command = "sudo " + " ".join(apt_install_command(missing))
        print(
            f"deps: missing Debian packages: {' '.join(missing)}\n"
            f"deps: run as root:  {command}\n"
            "deps: (never install libvirt-daemon-system: it pulls systemd)",
            file=sys.stderr,
        )
        return 1
    print(f"deps: installing {' '.join(missing)}")
    install_packages(missing)
    still_missing = missing_packages(missing)
    if still_missing:
        print(f"deps: still missing after apt-get: {' '.join(still_missing)}", file=sys.stderr)
        return 1
    return 0
