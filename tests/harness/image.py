"""Build the tiny guest (kernel + initramfs) from Debian packages into .cache/guest/.

Standard library only. The kernel is the one linux-image-cloud-amd64 points to (all
virtio drivers are modules there); userland is busybox-static plus qemu-ga and the
libraries it links. Rebuilt only when a package version or the build code changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import lzma
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import cpio, guest_files
from .paths import GUEST_DIR

KERNEL_META_PACKAGE = "linux-image-cloud-amd64"
AGENT_PACKAGE = "qemu-guest-agent"
BUSYBOX_PACKAGE = "busybox-static"
KERNEL_CMDLINE = "console=ttyS0 loglevel=4"
# Loaded in this order, each after the modules its .modinfo `depends=` names.
MODULES = (
    "virtio_ring",
    "virtio",
    "virtio_pci_legacy_dev",
    "virtio_pci_modern_dev",
    "virtio_pci",
    "virtio_blk",
    "virtio_console",
    "virtio_balloon",
    "virtio-rng",
    "failover",
    "net_failover",
    "virtio_net",
    "button",
    "evdev",
)
# In the image but not loaded at boot (no test guest pays for them): a CD-ROM drive on
# virtio-scsi. A test loads them with `for m in $(cat /etc/modules.cdrom); do insmod ...`.
CDROM_MODULES = ("virtio_scsi", "sr_mod")
BUILD_SOURCES = ("image.py", "cpio.py", "guest_files.py")
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


@dataclass(frozen=True)
class GuestImage:
    kernel: Path
    initrd: Path
    cmdline: str = KERNEL_CMDLINE


class ImageError(RuntimeError):
    """The guest image could not be built."""


def run(*argv: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run a build tool; its failure is an ImageError with the end of what it printed."""
    result = subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **APT_ENV, **(env or {})},
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stderr.strip() or result.stdout.strip())[-2000:]
        raise ImageError(f"{' '.join(argv)} failed ({result.returncode}): {tail}")
    return result.stdout


def _candidate_version(package: str) -> str | None:
    match = re.search(r"Candidate:\s*(\S+)", run("apt-cache", "policy", package))
    return None if match is None or match.group(1) == "(none)" else match.group(1)


def _candidate_stanzas(*packages: str) -> dict[str, dict[str, str]]:
    """Package -> its candidate's control fields, from one `apt-cache show` (about 1 s)."""
    result = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", *packages],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    stanzas: dict[str, dict[str, str]] = {}
    for block in result.stdout.split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", block, re.MULTILINE))
        if "Package" in fields:
            stanzas.setdefault(fields["Package"], fields)
    return stanzas


def _apt_candidates() -> dict[str, dict[str, str]]:
    """Candidate stanzas of the kernel meta package and the agent; on a machine without
    package lists (fresh containers) run `apt-get update` first, as root."""
    wanted = (KERNEL_META_PACKAGE, AGENT_PACKAGE)
    stanzas = _candidate_stanzas(*wanted)
    if all(name in stanzas for name in wanted):
        return stanzas
    if os.geteuid() != 0:
        raise ImageError(f"apt knows no {' or '.join(wanted)}; run `sudo apt-get update`")
    run("apt-get", "update")
    stanzas = _candidate_stanzas(*wanted)
    if not all(name in stanzas for name in wanted):
        raise ImageError(f"apt has no candidate for {' or '.join(wanted)} even after update")
    return stanzas


def _kernel_package(meta: dict[str, str]) -> tuple[str, str]:
    """The linux-image package (and version) the cloud meta package depends on."""
    match = re.search(r"(linux-image-[^\s,(]+)(?:\s*\(=\s*([^)\s]+)\))?", meta.get("Depends", ""))
    if match is None:
        raise ImageError(f"{KERNEL_META_PACKAGE} depends on no linux-image package")
    name, version = match.group(1), match.group(2)
    return name, version or _candidate_version(name) or ""


def _busybox_path() -> Path:
    for line in run("dpkg-query", "-L", BUSYBOX_PACKAGE).splitlines():
        if line.endswith("/bin/busybox") and Path(line).is_file():
            return Path(line)
    raise ImageError(f"{BUSYBOX_PACKAGE} is installed without /bin/busybox (run make deps)")


def _inputs() -> dict[str, str]:
    """Everything the image depends on; its hash decides whether to rebuild."""
    stanzas = _apt_candidates()
    kernel, kernel_version = _kernel_package(stanzas[KERNEL_META_PACKAGE])
    here = Path(__file__).parent
    inputs = {
        "kernel": kernel,
        "kernel_version": kernel_version,
        "agent_version": stanzas[AGENT_PACKAGE]["Version"],
        "busybox_version": run("dpkg-query", "-W", "-f=${Version}", BUSYBOX_PACKAGE),
        "cmdline": KERNEL_CMDLINE,
    }
    for name in BUILD_SOURCES:
        inputs[name] = hashlib.sha256((here / name).read_bytes()).hexdigest()
    return inputs


def _download(package: str, version: str, debs_dir: Path) -> Path:
    """The package's .deb in the cache, fetched with `apt-get download` if needed."""
    package_dir = debs_dir / package
    for deb in package_dir.glob("*.deb"):
        if run("dpkg-deb", "-f", str(deb), "Version").strip() == version:
            return deb
    shutil.rmtree(package_dir, ignore_errors=True)
    package_dir.mkdir(parents=True)
    run(
        "apt-get",
        "download",
        "-o",
        "APT::Sandbox::User=root",
        f"{package}={version}",
        cwd=package_dir,
    )
    debs = list(package_dir.glob("*.deb"))
    if len(debs) != 1:
        raise ImageError(f"apt-get download {package}={version} left {len(debs)} .deb files")
    return debs[0]


def _extract(deb: Path, destination: Path) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    run("dpkg-deb", "-x", str(deb), str(destination))
    return destination


def module_depends(ko_bytes: bytes) -> list[str]:
    """The `depends=` list from a kernel module's .modinfo ELF section (no modinfo needed)."""
    (shoff,) = struct.unpack_from("<Q", ko_bytes, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", ko_bytes, 0x3A)

    def section(index: int) -> tuple[int, int, int]:
        name, _type, _flags, _addr, offset, size = struct.unpack_from(
            "<IIQQQQ", ko_bytes, shoff + index * shentsize
        )
        return name, offset, size

    _, strtab_offset, _ = section(shstrndx)
    for index in range(shnum):
        name_offset, offset, size = section(index)
        name_end = ko_bytes.index(b"\0", strtab_offset + name_offset)
        if ko_bytes[strtab_offset + name_offset : name_end] != b".modinfo":
            continue
        for field in ko_bytes[offset : offset + size].split(b"\0"):
            if field.startswith(b"depends="):
                return [dep for dep in field[8:].decode().split(",") if dep]
        return []
    return []


def _module_files(modules_root: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in modules_root.rglob("*.ko*"):
        stem = path.name.split(".ko", 1)[0]
        files[stem.replace("-", "_")] = path
    return files


def _read_module(path: Path) -> bytes:
    data = path.read_bytes()
    return lzma.decompress(data) if path.name.endswith(".xz") else data


def module_load_order(modules_root: Path, wanted: tuple[str, ...]) -> list[tuple[str, bytes]]:
    """(name, .ko bytes) for WANTED and their dependencies, dependencies first."""
    files = _module_files(modules_root)
    ordered: list[tuple[str, bytes]] = []
    done: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        key = name.replace("-", "_")
        if key in done:
            return
        if key in chain:
            raise ImageError(f"module dependency cycle: {' -> '.join((*chain, key))}")
        if key not in files:
            raise ImageError(f"kernel package has no module {name}")
        data = _read_module(files[key])
        for dependency in module_depends(data):
            visit(dependency, (*chain, key))
        done.add(key)
        ordered.append((key, data))

    for name in wanted:
        visit(name, ())
    return ordered


def _linked_libraries(binary: Path, library_path: list[Path]) -> dict[str, Path]:
    """Absolute path in the guest -> host file, for every library BINARY loads."""
    env = {**os.environ, "LD_LIBRARY_PATH": ":".join(map(str, library_path))}
    result = subprocess.run(
        ["ldd", str(binary)], capture_output=True, text=True, env=env, check=False
    )
    libraries: dict[str, Path] = {}
    missing: list[str] = []
    for line in result.stdout.splitlines():
        line = line.strip()
        if "=> not found" in line:
            missing.append(line.split()[0])
        elif "=>" in line:
            path = line.split("=>", 1)[1].split("(", 1)[0].strip()
            if path:
                libraries[path] = Path(path)
        elif line.startswith("/"):
            path = line.split("(", 1)[0].strip()
            libraries[path] = Path(path)
    if missing or result.returncode != 0:
        raise ImageError(f"ldd {binary}: missing {', '.join(missing) or result.stderr.strip()}")
    return libraries


def _guest_path(host_path: str, library_path: list[Path]) -> str:
    """Where a library found by ldd lives inside the guest (extracted debs map back)."""
    for root in library_path:
        if host_path.startswith(f"{root}/"):
            return "usr/lib/x86_64-linux-gnu/" + host_path[len(str(root)) + 1 :]
    return host_path.lstrip("/")


def _agent_libraries(agent_root: Path, binary: Path, debs_dir: Path) -> dict[str, Path]:
    """Libraries for qemu-ga: the host's (qemu-system-x86 links the same ones); when the
    host lacks some, the agent's direct Depends are downloaded and extracted."""
    try:
        return _linked_libraries(binary, [])
    except ImageError:
        pass
    depends = re.findall(
        r"^\s*Depends:\s*(\S+)", run("apt-cache", "depends", AGENT_PACKAGE), re.MULTILINE
    )
    library_path: list[Path] = []
    for package in depends:
        if package.startswith("<") or package == "libc6":
            continue
        root = _extract(
            _download(package, _candidate_version(package) or "", debs_dir),
            agent_root / "deps" / package,
        )
        library_path += [p for p in root.glob("**/x86_64-linux-gnu") if p.is_dir()]
    found = _linked_libraries(binary, library_path)
    return {_guest_path(guest, library_path): host for guest, host in found.items()}


def _host_file(path: str, host: Path, perm: int = 0o755) -> cpio.Entry:
    return cpio.file(path.lstrip("/"), host.resolve().read_bytes(), perm)


def _script(path: str, text: str) -> cpio.Entry:
    return cpio.file(path, text.encode(), 0o755)


def _text(path: str, text: str) -> cpio.Entry:
    return cpio.file(path, text.encode(), 0o644)


def _initramfs_entries(
    modules: list[tuple[str, bytes]],
    busybox: Path,
    agent: Path,
    libraries: dict[str, Path],
    cdrom_modules: list[tuple[str, bytes]],
) -> list[cpio.Entry]:
    entries = [
        cpio.directory(name)
        for name in (
            "bin",
            "sbin",
            "usr/bin",
            "usr/sbin",
            "lib/modules",
            "etc/acpi/PWRF",
            "dev",
            "proc",
            "sys",
            "run",
            "tmp",
            "root",
            "var/log",
        )
    ]
    entries += [
        cpio.symlink("var/run", "../run"),
        cpio.char_device("dev/console", 5, 1),
        cpio.char_device("dev/null", 1, 3, 0o666),
        _host_file("bin/busybox", busybox),
    ]
    applets = run(str(busybox), "--list-full").split()
    entries += [
        cpio.symlink(applet, "/bin/busybox")
        for applet in applets
        if applet not in {"bin/busybox", "linuxrc"}
    ]
    entries += [cpio.file(f"lib/modules/{name}.ko", data) for name, data in modules]
    entries += [cpio.file(f"lib/modules/{name}.ko", data) for name, data in cdrom_modules]
    entries += [_host_file(guest, host) for guest, host in sorted(libraries.items())]
    entries += [
        _host_file("usr/sbin/qemu-ga", agent),
        _text("etc/modules.order", "".join(f"{name}\n" for name, _ in modules)),
        _text("etc/modules.cdrom", "".join(f"{name}\n" for name, _ in cdrom_modules)),
        _script("init", guest_files.INIT),
        _text("etc/inittab", guest_files.INITTAB),
        _text("etc/profile", guest_files.PROFILE),
        _text("etc/hostname", guest_files.HOSTNAME + "\n"),
        _text("etc/os-release", guest_files.OS_RELEASE),
        _text("etc/passwd", guest_files.PASSWD),
        _text("etc/group", guest_files.GROUP),
        _script("sbin/shutdown", guest_files.SHUTDOWN_SHIM),
        _script("etc/acpi/PWRF/00000080", guest_files.ACPI_POWER_BUTTON),
    ]
    return entries


@contextmanager
def build_lock(directory: Path = GUEST_DIR) -> Iterator[None]:
    """One build into ``directory`` at a time, across processes."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build_image(force: bool = False) -> GuestImage:
    """The guest kernel and initramfs, rebuilt only when their inputs changed."""
    image = GuestImage(GUEST_DIR / "vmlinuz", GUEST_DIR / "initrd.img")
    stamp = GUEST_DIR / "inputs.json"
    with build_lock():
        inputs = _inputs()
        if (
            not force
            and image.kernel.exists()
            and image.initrd.exists()
            and stamp.exists()
            and json.loads(stamp.read_text()) == inputs
        ):
            return image
        started = time.monotonic()
        debs_dir = GUEST_DIR / "debs"
        with tempfile.TemporaryDirectory(dir=GUEST_DIR, prefix="build-") as scratch:
            work = Path(scratch)
            kernel_root = _extract(
                _download(inputs["kernel"], inputs["kernel_version"], debs_dir), work / "kernel"
            )
            agent_root = _extract(
                _download(AGENT_PACKAGE, inputs["agent_version"], debs_dir), work / "agent"
            )
            vmlinuz = next((kernel_root / "boot").glob("vmlinuz-*"))
            modules_root = next((kernel_root / "lib/modules").iterdir())
            modules = module_load_order(modules_root, MODULES)
            booted = {name for name, _ in modules}
            cdrom = [
                (name, data)
                for name, data in module_load_order(modules_root, CDROM_MODULES)
                if name not in booted
            ]
            agent = agent_root / "usr/sbin/qemu-ga"
            libraries = _agent_libraries(work, agent, debs_dir)
            entries = _initramfs_entries(modules, _busybox_path(), agent, libraries, cdrom)
            cpio.write_archive(entries, work / "initrd.img")
            shutil.copyfile(vmlinuz, work / "vmlinuz")
            os.replace(work / "vmlinuz", image.kernel)
            os.replace(work / "initrd.img", image.initrd)
        stamp.write_text(json.dumps(inputs, indent=1, sort_keys=True) + "\n")
        print(
            f"image: built {image.initrd} ({image.initrd.stat().st_size // 1024} KiB) "
            f"in {time.monotonic() - started:.1f} s"
        )
    return image
