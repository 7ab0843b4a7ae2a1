"""What the cloud-init tests share: fresh SSH keys, and every combination of the
wizard's cloud-init fields with the spec each one makes."""

from __future__ import annotations

import itertools
import subprocess

import pytest

from kvmtui.backend import cloudinit
from kvmtui.backend.cloudinit import CloudInit


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Two fresh public keys made by ssh-keygen (ed25519 and rsa)."""
    folder = tmp_path_factory.mktemp("ssh")
    made = []
    for kind, bits in (("ed25519", []), ("rsa", ["-b", "2048"])):
        path = folder / f"id_{kind}"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", kind, *bits, "-N", "", "-C", f"me@{kind}", "-f", str(path)],
            check=True,
        )
        made.append((folder / f"id_{kind}.pub").read_text().strip())
    return made[0], made[1]


#: Every combination of the wizard's fields: login way, host name form, packages, zone.
LOGINS = ("key", "password", "both")
HOSTNAMES = ("web1", "web1.example.org")
PACKAGES: tuple[tuple[str, ...], ...] = (
    (),
    cloudinit.DEFAULT_PACKAGES,
    ("qemu-guest-agent", "htop", "g++"),
)
ZONES = (None, "Europe/Berlin")
COMBINATIONS = list(itertools.product(LOGINS, HOSTNAMES, PACKAGES, ZONES))


def spec_for(
    combo: tuple[str, str, tuple[str, ...], str | None], keys: tuple[str, str]
) -> CloudInit:
    login, hostname, packages, zone = combo
    return CloudInit.checked(
        hostname=hostname,
        user="alice",
        ssh_keys=list(keys) if login in ("key", "both") else [],
        password="s3cret pass" if login in ("password", "both") else None,
        packages=packages,
        timezone=zone,
        keep_instance=True,  # the wizard's default: the seed is detached after the first boot
    )
