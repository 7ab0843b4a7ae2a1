"""Cloud-init for a new guest: what the admin chose, checked, written as NoCloud files.

A :class:`CloudInit` holds the choices (user, SSH public keys, an optional password kept
only as its SHA-512 crypt hash, hostname, packages, timezone, optionally a static
address); :func:`seed_files` writes them as ``user-data`` (cloud-config YAML),
``meta-data`` and, with an address, ``network-config`` (version 2). When the seed is to be
detached after the first boot (``keep_instance``), the user-data also sets cloud-init's
``manual_cache_clean``, so later boots without the seed keep the first boot's instance.
Raw user-data typed by the admin goes through :func:`raw_seed_files` instead (sent as
typed): it must be cloud-config YAML, and a mistake is refused with its line. Each
``check_*`` function refuses bad input with one sentence (:class:`CloudInitError`) and
returns the cleaned value.

Hashing: Python's ``crypt`` module is deprecated (gone in 3.13) and passlib is no longer
maintained, so :func:`hash_password` runs ``openssl passwd -6`` (OpenSSL's SHA-512
crypt, the ``$6$`` format /etc/shadow uses), the password passed on standard input, never
on a command line. Nothing here calls libvirt; backend/seed.py builds the ISO and uploads.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import struct
import subprocess
import uuid
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from kvmtui.backend import errors

#: Preselected in the package list: kvmtui's agent panel (`g`) and clean shutdowns.
AGENT_PACKAGE = "qemu-guest-agent"
DEFAULT_PACKAGES = (AGENT_PACKAGE,)
CLOUD_CONFIG_HEADER = "#cloud-config"
#: Written by the user-data when the seed is detached after the first boot (see
#: :func:`user_data`): cloud-init then trusts the instance it cached on that boot.
KEEP_INSTANCE_PATH = "/etc/cloud/cloud.cfg.d/99-kvmtui.cfg"
KEEP_INSTANCE_CONFIG = "manual_cache_clean: true\n"

#: What OpenSSH 9 accepts in authorized_keys (ssh-dss is off by default since 7.0).
KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
#: Debian's adduser NAME_REGEX, the safe subset useradd accepts everywhere.
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_SHA512_CRYPT = re.compile(r"\$6\$(rounds=\d+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}")
#: Names a cloud image already has; cloud-init would change them, not create a user.
_RESERVED_USERS = frozenset({"root", "daemon", "bin", "sys", "nobody", "sshd", "systemd-network"})


class CloudInitError(errors.KvmtuiError):
    """A cloud-init choice kvmtui will not write; nothing was made."""


# -- checks -----------------------------------------------------------------------------


def check_hostname(text: str) -> str:
    """A host name (RFC 1123): labels of letters, digits and '-', 1-63 characters each,
    not starting or ending with '-'; a dotted name is taken as the FQDN."""
    name = text.strip().rstrip(".")
    if not name:
        raise CloudInitError("Type a host name, e.g. web1 or web1.example.org.")
    if len(name) > 253:
        raise CloudInitError(f"'{name[:40]}...' is longer than 253 characters; shorten it.")
    for label in name.split("."):
        if not _LABEL.fullmatch(label):
            raise CloudInitError(
                f"'{name}' is not a host name: each part between dots is 1-63 letters, "
                "digits or '-', not starting or ending with '-'."
            )
    if name.split(".")[-1].isdigit():
        raise CloudInitError(f"'{name}' looks like an address, not a host name.")
    return name


def check_user(text: str) -> str:
    """A Linux user name cloud-init can create: lower case, digits, '_' and '-'."""
    name = text.strip()
    if not _USER.fullmatch(name):
        raise CloudInitError(
            f"'{name}' is not a user name: use lower-case letters, digits, '_' and '-', "
            "starting with a letter or '_', at most 32 characters."
        )
    if name in _RESERVED_USERS:
        raise CloudInitError(
            f"'{name}' is a system account the image already has; choose a user of your own."
        )
    return name


def check_ssh_key(text: str) -> str:
    """One OpenSSH public key line (``TYPE BASE64 [COMMENT]``), as in a ``.pub`` file."""
    line = " ".join(text.split())
    if not line:
        raise CloudInitError("Paste an SSH public key (the one line of a .pub file).")
    if "PRIVATE KEY" in line:
        raise CloudInitError(
            "That is a private key; paste the public one (the .pub file), and keep the "
            "private key to yourself."
        )
    parts = line.split(" ", 2)
    kind = parts[0]
    if kind not in KEY_TYPES:
        raise CloudInitError(
            f"'{kind[:30]}' is not an SSH public key type OpenSSH accepts; a key line starts "
            f"with one of {', '.join(KEY_TYPES[:3])}, ..."
        )
    if len(parts) < 2:
        raise CloudInitError(f"The {kind} key has no key data after its type.")
    try:
        blob = base64.b64decode(parts[1], validate=True)
        (size,) = struct.unpack_from(">I", blob)
        inner = blob[4 : 4 + size].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
        inner = None
    if inner != kind:
        raise CloudInitError(
            f"The {kind} key's data is damaged or of another type; paste the whole line "
            "of the .pub file."
        )
    return line


def check_ssh_keys(keys: Iterable[str]) -> tuple[str, ...]:
    """Every non-empty line checked; duplicates dropped, order kept."""
    checked: list[str] = []
    for number, key in enumerate((k for k in keys if k.strip()), start=1):
        try:
            line = check_ssh_key(key)
        except CloudInitError as exc:
            raise CloudInitError(f"SSH key {number}: {exc}") from None
        if line not in checked:
            checked.append(line)
    return tuple(checked)


def check_packages(names: Iterable[str]) -> tuple[str, ...]:
    """Debian/Ubuntu/Fedora package names (no versions); duplicates dropped."""
    checked: list[str] = []
    for name in (n.strip() for n in names):
        if not name:
            continue
        if not _PACKAGE.fullmatch(name):
            raise CloudInitError(
                f"'{name}' is not a package name: lower-case letters, digits, '+', '-' and "
                "'.', at least two characters."
            )
        if name not in checked:
            checked.append(name)
    return tuple(checked)


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(text: str) -> str:
    """An IANA time zone name (``Europe/Berlin``, ``UTC``) this machine's tzdata knows."""
    zone = text.strip()
    zones = _zones()
    if zone in zones or (not zones and re.fullmatch(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*", zone)):
        return zone
    close = sorted(z for z in zones if z.lower().endswith(zone.lower().split("/")[-1]))[:3]
    hint = f" (did you mean {', '.join(close)}?)" if close and zone else ""
    raise CloudInitError(f"'{zone}' is not a time zone name like Europe/Berlin or UTC{hint}.")


def check_password_hash(text: str) -> str:
    if not _SHA512_CRYPT.fullmatch(text):
        raise CloudInitError("The password hash is not a SHA-512 crypt hash ($6$...).")
    return text


def check_can_log_in(keys: tuple[str, ...], has_password: bool) -> None:
    """The user gets at least one way in: a key or a password."""
    if not keys and not has_password:
        raise CloudInitError(
            "Give the user an SSH key or a password; without either nobody can log in."
        )


def hash_password(password: str) -> str:
    """The SHA-512 crypt hash (``$6$SALT$HASH``) of ``password``, with a random salt."""
    if not password:
        raise CloudInitError("The password is empty; leave it out to log in by key only.")
    if "\n" in password or "\r" in password:
        raise CloudInitError("The password has a line break; type it on one line.")
    try:
        result = subprocess.run(
            ["openssl", "passwd", "-6", "-stdin"],
            input=password + "\n",
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CloudInitError(
            f"Could not hash the password: openssl did not run ({exc}); install openssl."
        ) from exc
    hashed = result.stdout.strip()
    if result.returncode != 0 or not _SHA512_CRYPT.fullmatch(hashed):
        raise CloudInitError(
            f"Could not hash the password: openssl passwd -6 failed: {result.stderr.strip()}."
        )
    return hashed


def local_public_keys(ssh_dir: Path | None = None) -> tuple[tuple[Path, str], ...]:
    """The admin's public keys (``~/.ssh/*.pub``) that check as keys, with their files."""
    folder = ssh_dir if ssh_dir is not None else Path.home() / ".ssh"
    found: list[tuple[Path, str]] = []
    try:
        files = sorted(folder.glob("*.pub"))
    except OSError:
        return ()
    for path in files:
        try:
            found.append((path, check_ssh_key(path.read_text(errors="replace").strip())))
        except (OSError, CloudInitError):
            continue
    return tuple(found)


# -- the choices ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaticAddress:
    """An address for the guest's first NIC, instead of DHCP (``network-config``)."""

    address: str  # with its prefix: 192.168.10.5/24 or 2001:db8::5/64
    gateway: str | None = None
    nameservers: tuple[str, ...] = ()
    mac: str | None = None  # match the NIC by MAC; None: the first ethernet NIC

    @classmethod
    def checked(
        cls,
        address: str,
        gateway: str | None = None,
        nameservers: Iterable[str] = (),
        mac: str | None = None,
    ) -> StaticAddress:
        try:
            interface = ipaddress.ip_interface(address.strip())
        except ValueError:
            raise CloudInitError(
                f"'{address.strip()}' is not an address with its prefix, e.g. 192.168.10.5/24."
            ) from None
        if "/" not in address:
            raise CloudInitError(f"Add the prefix length to {address.strip()}, e.g. /24.")
        gw = None
        if gateway and gateway.strip():
            try:
                gw_ip = ipaddress.ip_address(gateway.strip())
            except ValueError:
                raise CloudInitError(f"'{gateway.strip()}' is not an IP address.") from None
            if gw_ip not in interface.network:
                raise CloudInitError(f"The gateway {gw_ip} is outside {interface.network}.")
            gw = str(gw_ip)
        servers: list[str] = []
        for server in (s.strip() for s in nameservers):
            if not server:
                continue
            try:
                servers.append(str(ipaddress.ip_address(server)))
            except ValueError:
                raise CloudInitError(f"DNS server '{server}' is not an IP address.") from None
        checked_mac = None
        if mac and mac.strip():
            checked_mac = mac.strip().lower()
            if not re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", checked_mac):
                raise CloudInitError(
                    f"'{mac.strip()}' is not a MAC address like 52:54:00:12:34:56."
                )
        return cls(str(interface), gw, tuple(servers), checked_mac)


@dataclass(frozen=True, slots=True)
class CloudInit:
    """What cloud-init sets up on the guest's first boot. Build it with :meth:`checked`,
    which validates each field; the password is only ever kept hashed."""

    hostname: str
    user: str
    ssh_keys: tuple[str, ...] = ()
    password_hash: str | None = None
    packages: tuple[str, ...] = DEFAULT_PACKAGES
    timezone: str | None = None
    network: StaticAddress | None = None
    #: The seed is detached after the first boot: keep this instance on later boots.
    keep_instance: bool = False
    instance_id: str = field(default_factory=lambda: f"iid-{uuid.uuid4()}")

    @classmethod
    def checked(
        cls,
        *,
        hostname: str,
        user: str,
        ssh_keys: Iterable[str] = (),
        password: str | None = None,
        password_hash: str | None = None,
        packages: Iterable[str] = DEFAULT_PACKAGES,
        timezone: str | None = None,
        network: StaticAddress | None = None,
        keep_instance: bool = False,
    ) -> CloudInit:
        """Each field checked (the first refusal raised); ``password`` is hashed here."""
        name = check_hostname(hostname)
        login = check_user(user)
        keys = check_ssh_keys(ssh_keys)
        hashed = (
            hash_password(password)
            if password
            else check_password_hash(password_hash)
            if password_hash
            else None
        )
        check_can_log_in(keys, hashed is not None)
        return cls(
            hostname=name,
            user=login,
            ssh_keys=keys,
            password_hash=hashed,
            packages=check_packages(packages),
            timezone=check_timezone(timezone) if timezone and timezone.strip() else None,
            network=network,
            keep_instance=keep_instance,
        )


@dataclass(frozen=True, slots=True)
class SeedFiles:
    """The NoCloud files, as text."""

    user_data: str
    meta_data: str
    network_config: str | None = None

    def named(self) -> dict[str, str]:
        """File name in the seed -> content."""
        files = {"user-data": self.user_data, "meta-data": self.meta_data}
        if self.network_config is not None:
            files["network-config"] = self.network_config
        return files


class _Dumper(yaml.SafeDumper):
    """A text of several lines (a file's content) as a literal block, as typed."""


_Dumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    ),
)


def _yaml(data: object) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)


def user_data(spec: CloudInit) -> str:
    """The cloud-config for ``spec``."""
    short = spec.hostname.split(".")[0]
    config: dict[str, object] = {"hostname": short}
    if "." in spec.hostname:
        config["fqdn"] = spec.hostname
        config["prefer_fqdn_over_hostname"] = False
    config["manage_etc_hosts"] = True  # sudo resolves the new name at once
    user: dict[str, object] = {
        "name": spec.user,
        "groups": ["sudo"],
        "shell": "/bin/bash",
        "sudo": "ALL=(ALL) NOPASSWD:ALL",
        "lock_passwd": spec.password_hash is None,
    }
    if spec.password_hash is not None:
        user["hashed_passwd"] = spec.password_hash
    if spec.ssh_keys:
        user["ssh_authorized_keys"] = list(spec.ssh_keys)
    config["users"] = [user]
    config["ssh_pwauth"] = spec.password_hash is not None
    if spec.timezone:
        config["timezone"] = spec.timezone
    if spec.packages:
        config["packages"] = list(spec.packages)
        if AGENT_PACKAGE in spec.packages:
            # Installed packages are not started on some distributions (the agent's unit
            # waits for its port's udev event, which came before the install). Without
            # waiting: a guest without the agent's port would hold the boot 90 s.
            config["runcmd"] = [["systemctl", "start", "--no-block", AGENT_PACKAGE]]
    if spec.keep_instance:
        # cloud-init looks for its datasource on every boot. Once the seed is detached it
        # finds none, and an image listing None last (datasource_list: [NoCloud, None])
        # takes DataSourceNone: a new instance-id, so per-instance modules run again (new
        # SSH host keys; measured, tests/daemon/test_cloudinit_daemon.py). With
        # manual_cache_clean in its base configuration cloud-init trusts the instance it
        # cached on the first boot ("First boot determination" in its docs).
        config["write_files"] = [{"path": KEEP_INSTANCE_PATH, "content": KEEP_INSTANCE_CONFIG}]
    return f"{CLOUD_CONFIG_HEADER}\n{_yaml(config)}"


def meta_data(instance_id: str, hostname: str) -> str:
    return _yaml({"instance-id": instance_id, "local-hostname": hostname.split(".")[0]})


def network_config(net: StaticAddress) -> str:
    """Version 2 network-config: the static address on the NIC with the MAC, or the
    first ethernet NIC."""
    nic: dict[str, object] = {
        "match": {"macaddress": net.mac} if net.mac else {"name": "e*"},
        "dhcp4": False,
        "addresses": [net.address],
    }
    if net.gateway:
        nic["routes"] = [{"to": "default", "via": net.gateway}]
    if net.nameservers:
        nic["nameservers"] = {"addresses": list(net.nameservers)}
    return _yaml({"version": 2, "ethernets": {"nic0": nic}})


def seed_files(spec: CloudInit) -> SeedFiles:
    return SeedFiles(
        user_data=user_data(spec),
        meta_data=meta_data(spec.instance_id, spec.hostname),
        network_config=network_config(spec.network) if spec.network else None,
    )


_ANY_HASH = re.compile(r"\$[0-9a-z]+\$\S+")
REDACTED = "<password hash, not shown>"


def redacted(text: str) -> str:
    """``text`` (user-data) with any crypt hash (``$6$...``) replaced, for showing."""
    return _ANY_HASH.sub(REDACTED, text)


def check_user_data(text: str) -> str:
    """Raw user-data as the admin typed it: ``#cloud-config`` on the first line, then a
    YAML mapping. A YAML mistake is refused with its line and column."""
    if not text.strip():
        raise CloudInitError("The user-data is empty; type cloud-config YAML or skip cloud-init.")
    if text.splitlines()[0].strip() != CLOUD_CONFIG_HEADER:
        raise CloudInitError(
            f"Line 1 must be '{CLOUD_CONFIG_HEADER}': cloud-init reads the file as "
            "cloud-config only with it."
        )
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "not YAML"
        raise CloudInitError(f"The user-data is not valid YAML: {where}{problem}.") from None
    except yaml.YAMLError as exc:
        raise CloudInitError(f"The user-data is not valid YAML: {exc}.") from None
    if not isinstance(data, dict):
        raise CloudInitError(
            "The user-data must be a YAML mapping (keys like users:, packages:), "
            f"not a {type(data).__name__}."
        )
    return text if text.endswith("\n") else text + "\n"


def raw_seed_files(
    text: str, hostname: str, network: StaticAddress | None = None, instance_id: str | None = None
) -> SeedFiles:
    """Seed files for raw user-data (checked as YAML); meta-data still names the host."""
    name = check_hostname(hostname)
    return SeedFiles(
        user_data=check_user_data(text),
        meta_data=meta_data(instance_id or f"iid-{uuid.uuid4()}", name),
        network_config=network_config(network) if network else None,
    )
