"""Build the cloud-init test image from Debian packages into .cache/cloud/.

A Debian bookworm root made with ``debootstrap`` holding cloud-init, openssh-server,
qemu-guest-agent and the cloud kernel, turned into an ext4 filesystem without a loop
device (``mkfs.ext4 -d`` at a 1 MiB offset, an MBR partition table written here) and
converted to qcow2. The disk boots by itself like a cloud image: GRUB's i386-pc boot
sector and core image (``grub-mkimage`` from the host's grub-pc-bin) go in front of the
partition, its grub.cfg boots the cloud kernel. The kernel and initrd are also copied
beside the disk, for a direct kernel boot (``root=/dev/vda1``). The root directory is kept
beside the image: the schema test runs ``cloud-init schema`` in it with chroot.

Standard library only. Rebuilt only when a package version or this file changes; the
downloaded .debs stay in .cache/cloud/debs so a rebuild does not fetch them again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .image import ImageError, build_lock, run
from .paths import CLOUD_DIR

SUITE = "bookworm"
#: The packages the image is about; their candidate versions are part of the input hash.
KEY_PACKAGES = (
    "cloud-init",
    "openssh-server",
    "qemu-guest-agent",
    "linux-image-cloud-amd64",
    "systemd",
)
#: debootstrap's minbase plus what a cloud guest needs. python3-cffi-backend: without it
#: debootstrap fails configuring python3-cryptography; dbus: without it logind never
#: starts and ACPI and agent shutdown are ignored.
INCLUDE = (
    "systemd-sysv",
    "udev",
    "dbus",
    "cloud-init",
    "python3-cffi-backend",
    "openssh-server",
    "qemu-guest-agent",
    "linux-image-cloud-amd64",
    "iproute2",
    "e2fsprogs",
    "sudo",
)
#: The disk's size (sparse; about 430 MiB used); the partition starts at 1 MiB, where
#: partitioning tools put it, leaving room for GRUB's core image (about 130 KiB).
DISK_BYTES = 2 * 1024**3
PART_OFFSET = 1024**2
SECTOR = 512
KERNEL_CMDLINE = "root=/dev/vda1 rw console=ttyS0 net.ifnames=0"
GRUB_DIR = Path("/usr/lib/grub/i386-pc")
#: What GRUB's core image needs to read grub.cfg from an MBR partition and boot Linux.
GRUB_MODULES = ("biosdisk", "part_msdos", "ext2", "linux", "normal", "configfile")
LOCALE_ENV = {"LC_ALL": "C.UTF-8"}  # debconf in the chroot warns without a locale

FSTAB = "LABEL=rootfs / ext4 rw,relatime 0 1\n"
#: NoCloud first (the seed), None last: no network metadata services are probed.
CLOUD_CFG = "datasource_list: [NoCloud, None]\n"
#: Without LANG cloud-init's locale module runs update-locale and ends in status: error.
LOCALE = "LANG=C.UTF-8\n"


@dataclass(frozen=True)
class CloudImage:
    disk: Path  # qcow2, the root filesystem on the whole disk (no partition table)
    kernel: Path
    initrd: Path
    root: Path  # the debootstrap root, for `chroot ROOT cloud-init schema`
    cmdline: str = KERNEL_CMDLINE


class CloudImageError(ImageError):
    """The cloud image could not be built."""


def _run(*argv: str, cwd: Path | None = None) -> str:
    return run(*argv, cwd=cwd, env=LOCALE_ENV)


def _mirror() -> str:
    """The Debian mirror apt uses here (deb822 or one-line sources), else deb.debian.org."""
    sources = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for path in sources:
        if not path.is_file() or path.suffix not in {".list", ".sources", ""}:
            continue
        text = path.read_text(errors="replace")
        for match in re.finditer(r"(?:^URIs:\s*|^deb\s+(?:\[[^]]*\]\s+)?)(\S+)", text, re.M):
            uri = match.group(1)
            if uri.rstrip("/").endswith("/debian"):
                return uri
    return "http://deb.debian.org/debian"


def _candidates() -> dict[str, str]:
    result = subprocess.run(
        ["apt-cache", "policy", *KEY_PACKAGES],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    found = dict(
        re.findall(r"^(\S+):\n\s+Installed:.*\n\s+Candidate:\s*(\S+)", result.stdout, re.M)
    )
    if not all(found.get(name, "(none)") != "(none)" for name in KEY_PACKAGES):
        if os.geteuid() != 0:
            raise CloudImageError("apt knows none of the image's packages; run apt-get update")
        _run("apt-get", "update")
        return _candidates()
    return {name: found[name] for name in KEY_PACKAGES}


def _inputs() -> dict[str, str]:
    """Everything the image depends on; its hash decides whether to rebuild."""
    inputs = {f"{name}_version": version for name, version in _candidates().items()}
    inputs["debootstrap"] = _run("dpkg-query", "-W", "-f=${Version}", "debootstrap")
    inputs["grub"] = _run("dpkg-query", "-W", "-f=${Version}", "grub-pc-bin")
    inputs["suite"] = SUITE
    inputs["build"] = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    return inputs


def _configure_root(root: Path) -> None:
    """What the probe found a NoCloud boot needs, written into the root."""
    (root / "etc/fstab").write_text(FSTAB)
    (root / "etc/cloud/cloud.cfg.d/90-kvmtui-datasource.cfg").write_text(CLOUD_CFG)
    (root / "etc/default/locale").write_text(LOCALE)
    # Empty: systemd makes a new machine-id at first boot (each guest its own).
    (root / "etc/machine-id").write_text("")
    (root / "etc/hostname").write_text("localhost\n")
    _run("chroot", str(root), "systemctl", "enable", "systemd-networkd")
    _run("chroot", str(root), "apt-get", "clean")
    for leftover in (root / "var/lib/apt/lists").glob("*_*"):
        leftover.unlink()


def _boot_files(root: Path) -> tuple[Path, Path]:
    for kernel in sorted((root / "boot").glob("vmlinuz-*"), reverse=True):
        initrd = root / "boot" / kernel.name.replace("vmlinuz-", "initrd.img-", 1)
        if initrd.is_file():  # not initrd.img-*.dpkg-bak or .new
            return kernel, initrd
    raise CloudImageError(f"{root}/boot has no vmlinuz-VERSION with its initrd.img-VERSION")


def _grub_config(root: Path, kernel: Path, initrd: Path) -> None:
    (root / "boot/grub").mkdir(exist_ok=True)
    (root / "boot/grub/grub.cfg").write_text(
        "set timeout=0\n"
        f"linux /boot/{kernel.name} {KERNEL_CMDLINE}\n"
        f"initrd /boot/{initrd.name}\n"
        "boot\n"
    )


def mbr(disk_bytes: int, start: int) -> bytes:
    """An MBR partition table (bytes 446-511): one bootable Linux partition from
    ``start`` to the end of the disk (LBA only; CHS fields say "use LBA")."""
    first, count = start // SECTOR, (disk_bytes - start) // SECTOR
    chs = b"\xfe\xff\xff"
    entry = struct.pack("<B3sB3sII", 0x80, chs, 0x83, chs, first, count)
    return entry + bytes(48) + b"\x55\xaa"


def _bootable_disk(root: Path, raw: Path, core: Path) -> None:
    """ROOT as an ext4 partition at PART_OFFSET of RAW, with GRUB in front of it."""
    fs_size = f"{(DISK_BYTES - PART_OFFSET) // 1024}k"
    _run("mkfs.ext4", "-q", "-L", "rootfs", "-E", f"offset={PART_OFFSET}", "-d", str(root),
         str(raw), fs_size)  # fmt: skip
    _run("grub-mkimage", "-O", "i386-pc", "-o", str(core), "-p", "(hd0,msdos1)/boot/grub",
         *GRUB_MODULES)  # fmt: skip
    boot = (GRUB_DIR / "boot.img").read_bytes()
    code = core.read_bytes()
    if len(code) > PART_OFFSET - SECTOR:
        raise CloudImageError(f"GRUB's core image ({len(code)} bytes) does not fit before 1 MiB")
    with raw.open("r+b") as disk:
        disk.truncate(DISK_BYTES)
        disk.write(boot[:446])  # the boot code; the partition table follows
        disk.write(mbr(DISK_BYTES, PART_OFFSET))
        disk.write(code)  # sector 1 on: where boot.img looks for the core image
    core.unlink()


def image_paths() -> CloudImage:
    return CloudImage(
        disk=CLOUD_DIR / "disk.qcow2",
        kernel=CLOUD_DIR / "vmlinuz",
        initrd=CLOUD_DIR / "initrd.img",
        root=CLOUD_DIR / "root",
    )


def build_cloud_image(force: bool = False) -> CloudImage:
    """The cloud image, its boot files and its root, rebuilt only when inputs changed."""
    image = image_paths()
    stamp = CLOUD_DIR / "inputs.json"
    with build_lock(CLOUD_DIR):
        inputs = _inputs()
        ready = all(p.exists() for p in (image.disk, image.kernel, image.initrd, image.root))
        if not force and ready and stamp.exists() and json.loads(stamp.read_text()) == inputs:
            return image
        if os.geteuid() != 0:
            raise CloudImageError("building the cloud image needs root (debootstrap, chroot)")
        started = time.monotonic()
        stamp.unlink(missing_ok=True)
        debs = CLOUD_DIR / "debs"
        debs.mkdir(exist_ok=True)
        work = CLOUD_DIR / "build"
        shutil.rmtree(work, ignore_errors=True)
        root = work / "root"
        _run(
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(INCLUDE)}",
            f"--cache-dir={debs}",
            SUITE,
            str(root),
            _mirror(),
        )
        _configure_root(root)
        kernel, initrd = _boot_files(root)
        _grub_config(root, kernel, initrd)
        raw = work / "disk.raw"
        _bootable_disk(root, raw, work / "core.img")
        _run("qemu-img", "convert", "-O", "qcow2", str(raw), str(work / "disk.qcow2"))
        raw.unlink()
        shutil.copyfile(kernel, work / "vmlinuz")
        shutil.copyfile(initrd, work / "initrd.img")
        shutil.rmtree(image.root, ignore_errors=True)
        for name in ("disk.qcow2", "vmlinuz", "initrd.img", "root"):
            os.replace(work / name, CLOUD_DIR / name)
        work.rmdir()
        stamp.write_text(json.dumps(inputs, indent=1, sort_keys=True) + "\n")
        print(
            f"cloudimage: built {image.disk} ({image.disk.stat().st_size >> 20} MiB) "
            f"in {time.monotonic() - started:.1f} s"
        )
    return image
